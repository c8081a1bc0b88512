// Apollo's gateway probes cloud metadata hosts and exports metrics unless this is set first.
process.env.APOLLO_TELEMETRY_DISABLED = 'true';

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import {
  BodyTooLargeError,
  REQUEST_ID_HEADER,
  bearerToken,
  clientAddress,
  parseTrustedProxies,
  closeGracefully,
  createLogger,
  verifierFromConfig,
  currentRequestId,
  isSafeCode,
  listen,
  metricsAccess,
  serveMetrics,
  startMetricsListener,
  makeErrorFormatter,
  projectRoot,
  runApolloRequest,
  sendGraphQLError,
  sendJson,
  withRequestId,
  type GraphQLRequestTransform,
  type CacheInvalidations,
  type LiveEvents,
  type Logger,
  type Principal,
  MemoryLiveEvents,
  RedisLiveEvents,
  createRedis,
  startTelemetry,
  traceHttpRequest,
  type TokenVerifier,
  MemorySessionRevocations,
  RedisSessionRevocations,
  waitForRevocations,
  type SessionRevocations,
  textInputPlugin,
} from '@vibestream/platform';
import { loadGatewayConfig, subgraphUrlOverrides } from './config.ts';
import type { GatewayContext } from './context.ts';
import { SubgraphDataSource, type SubgraphDataSourceOptions } from './data-source.ts';
import { proxyTo } from './http-proxy.ts';
import { forwardDecision, forwardedLabel } from './forwarded-routes.ts';
import { parseRequestPath, type RequestPathResult } from './request-path.ts';
import { PUBLIC_GRAPHQL_PATH, createGatewayPublicGraph } from './public-graph.ts';
import { boundedStringify, createRequestLimiter, limitsPlugin, sendRateLimited } from './limits/index.ts';
import { listSizeProblems, readCostDirectives } from '@vibestream/platform';
import { loadPersistedDocuments, persistedDocumentsTransform } from './persisted-documents.ts';
import { operationGuardPlugin, refuseSubscriptionDocuments } from './operation-guard.ts';
import { attachSubscriptions, type SubscriptionServer } from './subscriptions/server.ts';
import { publicFieldsOf } from './subscriptions/public-fields.ts';
import { GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { GRAPHIQL_PATH, graphiqlPage, sandboxWithOfflineFallback } from './landing-page.ts';
import { OperationNameLabels, createMetrics, operationMetricsPlugin } from './metrics.ts';
import { createWebApp } from './web-app.ts';
import { startEntityCache } from './entity-cache/setup.ts';
import { ChangeClock } from './entity-cache/entity-cache.ts';

export interface GatewayOptions {
  env: NodeJS.ProcessEnv;
  /** The supergraph SDL; read from SUPERGRAPH_PATH (default schema/supergraph.graphql) when absent. */
  supergraphSdl?: string;
  port?: number;
  log?: Logger;
  verifier?: TokenVerifier;
  /** Live events for subscriptions; from REDIS_URL (Redis pub/sub) or in-process when absent. */
  live?: LiveEvents;
  /** Signed-out sessions, whose tokens are refused; from REDIS_URL, or in-process when absent (shared with the subgraphs under `npm start`). */
  revocations?: SessionRevocations;
  /** Subgraph fetcher savings (merging identical in-flight queries, distinct representations); all on by default. */
  subgraphFetch?: SubgraphDataSourceOptions;
  /** The subgraphs' changes, for the entity cache: the process's own under `npm start`; from REDIS_URL when absent. */
  cacheInvalidations?: CacheInvalidations;
}

export interface RunningGateway {
  url: string;
  port: number;
  /** The port of the metrics listener, when METRICS_PORT asked for one. */
  metricsPort?: number;
  subscriptions: SubscriptionServer;
  stop(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const config = loadGatewayConfig(options.env);
  const log = options.log ?? createLogger('gateway', config.LOG_LEVEL);
  const production = config.NODE_ENV === 'production';
  const introspection = config.GRAPHQL_INTROSPECTION ?? !production;
  const trustedProxies = parseTrustedProxies(config.TRUSTED_PROXIES);
  const supergraphSdl = options.supergraphSdl ?? (await readFile(resolve(projectRoot, config.SUPERGRAPH_PATH ?? 'schema/supergraph.graphql'), 'utf8'));
  const revocationsRedis = !options.revocations && config.REDIS_URL ? createRedis(config.REDIS_URL) : null;
  revocationsRedis?.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error'));
  const revocations =
    options.revocations ?? (revocationsRedis ? new RedisSessionRevocations(revocationsRedis, config.REDIS_PREFIX, log) : new MemorySessionRevocations());
  if (!options.revocations) await waitForRevocations(revocations, log);
  const verifier = options.verifier ?? (await verifierFromConfig(config, revocations));
  const webApp = createWebApp(config.WEB_APP_DIR, log);
  const persistedStore = loadPersistedDocuments(config.PERSISTED_DOCUMENTS_PATH);
  const persistedDocuments = persistedDocumentsTransform(persistedStore, {
    onlyKnown: config.PERSISTED_DOCUMENTS_ONLY,
  });
  // A persisted document's text is what is checked for a subscription.
  const httpRequestTransform: GraphQLRequestTransform = (request) => {
    const resolved = persistedDocuments(request);
    return 'error' in resolved ? resolved : refuseSubscriptionDocuments({ ...request, ...resolved });
  };
  const overrides = subgraphUrlOverrides(options.env);
  const subgraphUrls = new Map<string, string>();
  const metrics = createMetrics();
  // /metrics on its own port (METRICS_PORT), behind a token (METRICS_TOKEN), or in production not at all.
  const metricsPolicy = metricsAccess(config);
  // Tracing (OTEL_TRACES_EXPORTER etc., see platform/src/telemetry.ts): spans and trace-context propagation always, export off by default.
  const telemetry = startTelemetry({ serviceName: 'gateway', env: options.env });
  const fetchObserver = {
    tracer: telemetry.tracer,
    fetched: (subgraph: string, seconds: number, error: string | null) => {
      metrics.subgraphFetchDuration.observe({ subgraph }, seconds);
      if (error) metrics.subgraphFetchErrors.inc({ subgraph, kind: error });
    },
  };

  const changes = new ChangeClock();
  const entityCache = await startEntityCache({ config, invalidations: options.cacheInvalidations, log, counter: metrics.entityCache, changes });
  const subgraphFetch: SubgraphDataSourceOptions = { entityCache: entityCache?.cache ?? null, changes, ...options.subgraphFetch };

  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ name, url }) => {
      const target = overrides.get(name) ?? url!;
      subgraphUrls.set(name, target);
      return new SubgraphDataSource(name, target, config.SUBGRAPH_TIMEOUT_MS, subgraphFetch, fetchObserver);
    },
    logger: {
      debug: (m) => log.debug(String(m)),
      info: (m) => log.info(String(m)),
      warn: (m) => log.warn(String(m)),
      error: (m) => log.error(String(m)),
    },
  });

  // The cost is measured with the supergraph's @listSize and @cost (the API schema drops them).
  const costDirectives = readCostDirectives(supergraphSdl);
  const queryLimits = { maxDepth: config.MAX_QUERY_DEPTH, maxAliases: config.MAX_QUERY_ALIASES, maxCost: config.MAX_QUERY_COST, directives: costDirectives };
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection,
    includeStacktraceInErrorResponses: false,
    // No "Did you mean …?" in production: suggestions would spell out the schema introspection hides.
    hideSchemaDetailsFromClientErrors: production,
    csrfPrevention: true,
    // Documents are known ahead of time (persisted documents); clients never register new ones.
    persistedQueries: false,
    // main.ts drains and stops the server on SIGTERM; Apollo must not exit first.
    stopOnTerminationSignals: false,
    stringifyResult: boundedStringify(config.MAX_RESPONSE_BYTES, (bytes) =>
      log.warn({ bytes, max: config.MAX_RESPONSE_BYTES }, 'answer refused by the response size limit'),
    ),
    formatError: makeErrorFormatter(
      (error, formatted) => {
        metrics.graphqlErrors.inc({ code: 'INTERNAL_SERVER_ERROR' });
        log.error(
          { err: (error as { originalError?: unknown })?.originalError ?? error, path: formatted.path, message: formatted.message },
          'unexpected error',
        );
      },
      { hideSuggestions: production },
    ),
    plugins: [
      production ? ApolloServerPluginLandingPageDisabled() : sandboxWithOfflineFallback(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      operationMetricsPlugin<GatewayContext>(metrics, new OperationNameLabels(OperationNameLabels.namesIn(persistedStore.values()))),
      // Before the limits: an operation that cannot run is refused as such.
      operationGuardPlugin<GatewayContext>(),
      textInputPlugin<GatewayContext>(),
      limitsPlugin<GatewayContext>({
        ...queryLimits,
        onRejected: (violation, operationName) =>
          log.info({ limit: violation.limit, actual: violation.actual, max: violation.max, operationName }, 'operation refused by limits'),
      }),
    ],
  });
  let apiSchema: GraphQLSchema | null = null;
  // Registered before start: the first load happens inside apollo.start().
  gateway.onSchemaLoadOrUpdate((update) => (apiSchema = update.apiSchema));
  await apollo.start();
  const unsized = listSizeProblems(apiSchema!, costDirectives);
  if (unsized.length > 0) log.warn({ lists: unsized }, 'lists without a declared size: the cost limit guesses their size');
  const publicFields = publicFieldsOf(supergraphSdl);
  const ownRedis = !options.live && config.REDIS_URL ? createRedis(config.REDIS_URL) : null;
  ownRedis?.on('error', (error: Error) => log.warn({ err: error.message }, 'redis connection error'));
  const live: LiveEvents = options.live ?? (ownRedis ? new RedisLiveEvents(ownRedis, config.REDIS_PREFIX, log) : new MemoryLiveEvents());
  const rateLimiting = config.RATE_LIMIT_PER_USER > 0 || config.RATE_LIMIT_PER_ADDRESS > 0;
  const limiterRedis = (rateLimiting || config.PUBLIC_RATE_LIMIT_PER_KEY > 0) && config.REDIS_URL ? (ownRedis ?? createRedis(config.REDIS_URL)) : null;
  const requestLimiter = createRequestLimiter({
    redis: limiterRedis,
    prefix: config.REDIS_PREFIX,
    perUser: { limit: config.RATE_LIMIT_PER_USER, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS },
    perAddress: { limit: config.RATE_LIMIT_PER_ADDRESS, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS },
    onError: (error) => log.warn({ err: (error as Error).message }, 'rate limiter unavailable; request allowed'),
  });

  let draining = false;
  // Partners' graph: only fields tagged public, behind an API key (x-api-key), run as an anonymous caller.
  const publicGraph = await createGatewayPublicGraph({
    config,
    env: options.env,
    supergraphSdl,
    apiSchema: apiSchema!,
    identityUrl: () => subgraphUrls.get('identity'),
    redis: limiterRedis,
    clientAddress: (req) => clientAddress(req, trustedProxies),
    log,
    executeViaGateway: async ({ query, variables, operationName, clientAddress: address }) => {
      const contextValue: GatewayContext = { requestId: currentRequestId()!, principal: null, authorization: null, clientAddress: address };
      const response = await apollo.executeOperation({ query, variables, operationName }, { contextValue });
      const result =
        response.body.kind === 'single'
          ? response.body.singleResult
          : { errors: [{ message: 'Incremental delivery is not supported here', extensions: { code: 'BAD_REQUEST' } }] };
      return { status: response.http.status, result };
    },
  });

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const incomingId = req.headers[REQUEST_ID_HEADER];
    // Routed on the decoded, normalised path; a path with dot-segments or encoded slashes is refused whatever it names.
    const requestPath = parseRequestPath(req.url ?? '/');
    const route = routeOf(requestPath);
    const serve = () =>
      withRequestId(typeof incomingId === 'string' && incomingId.length <= 128 ? incomingId : undefined, () => {
        res.setHeader(REQUEST_ID_HEADER, currentRequestId()!);
        if (draining) res.setHeader('connection', 'close');
        res.once('finish', () => metrics.httpDuration.observe({ route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9));
        handle(req, res, route, requestPath).catch((error: unknown) => {
          if (error instanceof BodyTooLargeError) return sendGraphQLError(res, 413, 'BAD_USER_INPUT', error.message);
          log.error({ err: error, url: req.url }, 'request failed');
          if (!res.headersSent) sendGraphQLError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
          else res.destroy();
        });
      });
    // One server span per request (continuing an incoming traceparent); probes and scrapes are not traced.
    if (route === '/healthz' || route === '/readyz' || route === '/metrics') serve();
    else traceHttpRequest(telemetry.tracer, req, res, route, serve);
  });
  server.keepAliveTimeout = 65_000;

  function routeOf(requestPath: RequestPathResult): string {
    if ('error' in requestPath) return 'refused';
    if (['/graphql', PUBLIC_GRAPHQL_PATH, '/healthz', '/readyz', '/metrics', GRAPHIQL_PATH].includes(requestPath.path)) return requestPath.path;
    return forwardedLabel(requestPath) ?? 'other';
  }

  async function handle(req: IncomingMessage, res: ServerResponse, route: string, requestPath: RequestPathResult): Promise<void> {
    if ('error' in requestPath) return sendJson(res, 400, { error: requestPath.error });
    switch (route) {
      case '/graphql':
        return serveGraphQL(req, res);
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz':
        return serveReadiness(res);
      case '/metrics':
        return serveMetrics(req, res, [metrics.registry], metricsPolicy);
      case PUBLIC_GRAPHQL_PATH:
        if (config.RATE_LIMIT_PER_ADDRESS > 0) {
          const verdict = await requestLimiter.check({ address: clientAddress(req, trustedProxies) });
          if (!verdict.allowed) return sendRateLimited(res, verdict.retryAfterSeconds);
        }
        return publicGraph(req, res);
      case GRAPHIQL_PATH:
        if (production && !introspection) return sendJson(res, 404, { error: 'not found' });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(graphiqlPage());
        return;
      default: {
        const forward = forwardDecision(req.method ?? 'GET', requestPath);
        // Every other path belongs to the web client (its files, or index.html for its routes).
        if (!forward && webApp?.serve(req, res)) return;
        if (forward && !forward.forward) {
          return sendJson(
            res,
            forward.status,
            { error: forward.status === 405 ? 'method not allowed' : 'not found' },
            forward.allow ? { allow: forward.allow } : {},
          );
        }
        const upstream = forward && subgraphUrls.get(forward.subgraph);
        if (!upstream) return sendJson(res, 404, { error: 'not found' });
        return proxyTo(new URL(upstream).origin, forward.target, req, res, {
          requestId: currentRequestId()!,
          clientAddress: clientAddress(req, trustedProxies),
          log,
          tracer: telemetry.tracer,
          subgraph: forward.subgraph,
        });
      }
    }
  }

  async function serveGraphQL(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const authorization = typeof req.headers.authorization === 'string' ? req.headers.authorization : null;
    let principal: Principal | null = null;
    try {
      const token = bearerToken(authorization);
      if (token) principal = await verifier(token);
    } catch (error) {
      const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
      if (isSafeCode(code)) return sendGraphQLError(res, 401, code, (error as Error).message);
      throw error;
    }
    const context: GatewayContext = { requestId: currentRequestId()!, principal, authorization, clientAddress: clientAddress(req, trustedProxies) };
    if (rateLimiting) {
      const verdict = await requestLimiter.check({ userId: principal?.userId ?? null, address: context.clientAddress });
      if (!verdict.allowed) return sendRateLimited(res, verdict.retryAfterSeconds);
    }
    await runApolloRequest(apollo, req, res, async () => context, config.MAX_REQUEST_BYTES, httpRequestTransform);
  }

  async function serveReadiness(res: ServerResponse): Promise<void> {
    const checks = await Promise.all(
      [...subgraphUrls].map(async ([name, url]) => {
        const ok = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ __typename }' }),
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.ok)
          .catch(() => false);
        return [name, ok] as const;
      }),
    );
    const ready = !draining && subgraphUrls.size > 0 && checks.every(([, ok]) => ok);
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', supergraph: true, subgraphs: Object.fromEntries(checks) });
  }

  const subscriptions = attachSubscriptions({
    server,
    schema: () => apiSchema,
    publicFields: () => publicFields,
    verifier,
    revocations,
    live,
    log,
    queryLimits,
    limits: {
      maxSubscriptionsPerConnection: config.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxConnectionsPerUser: config.WS_MAX_CONNECTIONS_PER_USER,
      maxAnonymousConnectionsPerAddress: config.WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS,
      maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
      maxQueuedEvents: config.WS_MAX_QUEUED_EVENTS,
    },
    requestLimiter: rateLimiting ? requestLimiter : null,
    clientAddressOf: (request) => clientAddress(request, trustedProxies),
    hideSchemaDetails: production,
    observer: {
      connectionOpened: () => metrics.websocketConnections.inc(),
      connectionClosed: () => metrics.websocketConnections.dec(),
      subscriptionStarted: () => metrics.subscriptions.inc(),
      subscriptionEnded: () => metrics.subscriptions.dec(),
      eventDelivered: (lagSeconds) => metrics.liveEventLag.observe(lagSeconds),
    },
    // Each event's lookup runs through Apollo's pipeline and the query planner in this process.
    execute: async (document, variables, contextValue) => {
      const response = await apollo.executeOperation({ query: document, variables }, { contextValue });
      return response.body.kind === 'single'
        ? (response.body.singleResult as ExecutionResult)
        : { errors: [new GraphQLError('Incremental delivery is not supported here')] };
    },
  });

  const port = await listen(server, options.port ?? config.PORT, config.HOST);
  const metricsListener =
    metricsPolicy.port !== null ? await startMetricsListener({ ...metricsPolicy, port: metricsPolicy.port }, config.HOST, metrics.registry) : null;
  if (!metricsPolicy.onMainPort && !metricsListener) log.info('/metrics is not served in production without METRICS_PORT or METRICS_TOKEN');
  const url = `http://localhost:${port}/graphql`;
  return {
    url,
    port,
    ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
    subscriptions,
    stop: async () => {
      draining = true;
      await metricsListener?.stop();
      await subscriptions.close();
      await closeGracefully(server);
      await apollo.stop();
      await entityCache?.stop();
      if (!options.live) await live.close();
      ownRedis?.disconnect();
      if (!options.revocations) await revocations.close();
      revocationsRedis?.disconnect();
      if (limiterRedis && limiterRedis !== ownRedis) limiterRedis.disconnect();
      await telemetry.shutdown();
    },
  };
}
