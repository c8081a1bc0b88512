import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph';
import type { DocumentNode } from 'graphql';
import { LOOPBACK_RANGES, parseTrustedProxies, type TrustedProxies } from './addresses.ts';
import { bearerToken, type Principal, type TokenVerifier } from './auth.ts';
import { guardEntities } from './entities.ts';
import { isSafeCode, makeErrorFormatter } from './errors.ts';
import { BodyTooLargeError, clientAddress, closeGracefully, listen, runApolloRequest, sendGraphQLError, sendJson } from './http.ts';
import { REQUEST_ID_HEADER, currentRequestId, withRequestId, type Logger } from './logger.ts';
import { openMetrics, serveMetrics, startMetricsListener, type MetricsAccess, type MetricsListener } from './metrics-endpoint.ts';
import { processMetrics, startTelemetry, traceHttpRequest } from './telemetry.ts';
import { textInputPlugin } from './text-input.ts';
import { cacheTagsPlugin, entityTypesOf, withCacheControlDefinitions, withRequestChanges } from './cache/hints.ts';
import type { CacheInvalidations } from './cache/invalidations.ts';

/** What every subgraph resolver receives, before the subgraph adds its own services. */
export interface BaseRequestContext {
  requestId: string;
  principal: Principal | null;
  clientAddress: string;
  log: Logger;
}

export interface HttpRoute {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Exact path, or a prefix ending in '/'. */
  path: string;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
}

export interface SubgraphServerOptions<Ctx extends BaseRequestContext> {
  name: string;
  port: number;
  host?: string;
  typeDefs: DocumentNode;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resolvers: GraphQLResolverMap<any>;
  verifier: TokenVerifier;
  log: Logger;
  introspection: boolean;
  /** No "Did you mean …?" in error messages (production): suggestions spell out the schema. */
  hideSchemaDetails?: boolean;
  /** Adds the subgraph's per-request services (an EntityManager fork, DataLoaders) to the base context. */
  context: (base: BaseRequestContext) => Ctx | Promise<Ctx>;
  routes?: HttpRoute[];
  /** Readiness beyond "the process is up" (database reachable, for instance). */
  ready?: () => Promise<boolean>;
  /** Where `/metrics` is served and to whom (metricsAccess(config)); open on the main port when absent. */
  metrics?: MetricsAccess;
  /** Where the OTEL_* tracing variables are read (see telemetry.ts); process.env when absent. */
  env?: NodeJS.ProcessEnv;
  /** The peers whose X-Forwarded-For names the client (the gateway); loopback when absent. */
  trustedProxies?: TrustedProxies;
  /** Where changes are purged from the gateway's entity cache (cache/hints.ts); without it, answers carry no cache tags. */
  cacheInvalidations?: CacheInvalidations;
}

export interface RunningServer {
  url: string;
  port: number;
  /** The port of the metrics listener, when METRICS_PORT asked for one. */
  metricsPort?: number;
  stop(): Promise<void>;
}

export async function startSubgraphServer<Ctx extends BaseRequestContext>(options: SubgraphServerOptions<Ctx>): Promise<RunningServer> {
  const { log } = options;
  const apollo = new ApolloServer<Ctx>({
    schema: guardEntities(buildSubgraphSchema([{ typeDefs: withCacheControlDefinitions(options.typeDefs), resolvers: options.resolvers }])),
    introspection: options.introspection,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: options.hideSchemaDetails ?? false,
    csrfPrevention: true,
    // The gateway sends whole documents; automatic persisted queries would only be a second way in
    // (a mismatched hash was an error without a code, answered as INTERNAL_SERVER_ERROR).
    persistedQueries: false,
    // The process's own shutdown handler drains and stops the server; Apollo must not exit first.
    stopOnTerminationSignals: false,
    formatError: makeErrorFormatter(
      (error, formatted) => log.error({ err: (error as { originalError?: unknown })?.originalError ?? error, path: formatted.path }, 'unexpected error'),
      { hideSuggestions: options.hideSchemaDetails ?? false },
    ),
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      textInputPlugin<Ctx>(),
      ...(options.cacheInvalidations
        ? [cacheTagsPlugin<Ctx>({ entityTypes: entityTypesOf(options.typeDefs), invalidations: options.cacheInvalidations, log })]
        : []),
    ],
  });
  await apollo.start();

  const routes = options.routes ?? [];
  const proxies = options.trustedProxies ?? parseTrustedProxies(LOOPBACK_RANGES);
  const metrics = processMetrics();
  const metricsAccess = options.metrics ?? openMetrics;
  const telemetry = startTelemetry({ serviceName: options.name, ...(options.env ? { env: options.env } : {}) });
  const server = createServer((req, res) => {
    const requestId = headerValue(req, REQUEST_ID_HEADER);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const builtIn = path === '/healthz' || path === '/readyz' || path === '/metrics';
    const route = builtIn ? undefined : routeOf(req.method, path);
    const label = builtIn ? path : route ? route.path : path === '/graphql' ? path : 'other';
    const started = process.hrtime.bigint();
    res.once('finish', () =>
      metrics.httpDuration.observe({ subgraph: options.name, route: label, status: String(res.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9),
    );
    const run = () =>
      withRequestId(requestId, () => {
        handle(req, res, path, route).catch((error: unknown) => {
          if (error instanceof BodyTooLargeError) return sendGraphQLError(res, 413, 'BAD_USER_INPUT', error.message);
          log.error({ err: error, url: req.url }, 'request failed');
          if (!res.headersSent) sendGraphQLError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
          else res.destroy();
        });
      });
    // Probes and scrapes are not traced; everything else continues the caller's trace.
    if (builtIn) run();
    else traceHttpRequest(telemetry.tracer, req, res, label, run);
  });
  server.keepAliveTimeout = 65_000;

  function routeOf(method: string | undefined, path: string): HttpRoute | undefined {
    return routes.find((r) => r.method === method && (r.path === path || (r.path.endsWith('/') && path.startsWith(r.path))));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, path: string, route: HttpRoute | undefined): Promise<void> {
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok', subgraph: options.name });
    if (path === '/readyz') {
      const ready = options.ready ? await options.ready().catch(() => false) : true;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', subgraph: options.name });
    }
    if (path === '/metrics') return serveMetrics(req, res, [metrics.registry], metricsAccess);
    if (route) return route.handle(req, res);
    if (path !== '/graphql') return sendJson(res, 404, { error: 'not found' });

    let principal: Principal | null = null;
    try {
      const token = bearerToken(headerValue(req, 'authorization'));
      if (token) principal = await options.verifier(token);
    } catch (error) {
      const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
      if (isSafeCode(code)) return sendGraphQLError(res, 401, code, (error as Error).message);
      throw error;
    }
    const base: BaseRequestContext = {
      requestId: currentRequestId() ?? 'unknown',
      principal,
      clientAddress: clientAddress(req, proxies),
      log,
    };
    await withRequestChanges(() => runApolloRequest(apollo, req, res, async () => options.context(base)));
  }

  let port: number;
  let metricsListener: MetricsListener | null = null;
  try {
    port = await listen(server, options.port, options.host);
    if (metricsAccess.port !== null)
      metricsListener = await startMetricsListener({ ...metricsAccess, port: metricsAccess.port }, options.host ?? '0.0.0.0', metrics.registry);
  } catch (error) {
    await closeGracefully(server, 1_000);
    await telemetry.shutdown();
    throw error;
  }
  log.info({ port, subgraph: options.name, metricsPort: metricsListener?.port }, 'subgraph listening');
  if (!metricsAccess.onMainPort && !metricsListener)
    log.info({ subgraph: options.name }, '/metrics is not served in production without METRICS_PORT or METRICS_TOKEN');
  return {
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
    stop: async () => {
      await metricsListener?.stop();
      await closeGracefully(server);
      await apollo.stop();
      await telemetry.shutdown();
    },
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
