/**
 * Observability shared by the gateway and the subgraphs: OpenTelemetry tracing with W3C
 * trace-context propagation, and the per-process Prometheus registry a subgraph serves on
 * `/metrics`.
 *
 * Tracing (configured from the environment, OpenTelemetry's own variable names):
 * - `OTEL_TRACES_EXPORTER`: `none` (default) | `otlp` | `console` (a comma list is accepted).
 *   Trace context (`traceparent`/`tracestate`) is propagated whatever the exporter, so trace ids
 *   still flow gateway → subgraphs with `none`; an HTTP request's server span is only recorded
 *   when someone would see it (an exporter, or an {@link onSpanEnd} listener), otherwise the
 *   request runs under a non-recording span carrying the same ids.
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
 *   (`/v1/traces` appended); default `http://localhost:4318/v1/traces` (OTLP over HTTP, JSON).
 * - `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,key2=value2`.
 * - `OTEL_SERVICE_NAME`: the `service.name` resource attribute (default: the service's own name).
 *
 * Sampling is ParentBased(AlwaysOn): a request that arrives with a sampled `traceparent` (or
 * none) is recorded; an unsampled one stays unsampled downstream, its ids still propagated.
 *
 * One tracer provider per service name and process (the test stack and `npm start` run several
 * services in one process), whose settings come from the first service of that name to start.
 * Each service's spans carry its own `service.name`: a request a service serves runs in a
 * context that names the service, and while any provider exports, a routing provider is
 * registered globally (with the context manager) that sends each span libraries make through
 * the global API (Apollo Gateway's `gateway.request`, `gateway.plan`, `gateway.fetch`...) to the
 * provider of the service whose context it is in. With the exporter off only the propagator is
 * global: those library spans stay no-ops and cost next to nothing, and the active span is read
 * with {@link activeSpanContext}.
 *
 * PostgreSQL queries (`pg` clients: MikroORM's pool and ours) and Redis commands (`ioredis`) made
 * inside a traced request get client spans of that request's service (see instrumentClients:
 * the official instrumentations hook `require`, which ESM imports of these packages bypass).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  RandomIdGenerator,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { env, loadConfig, z } from './config.ts';
import { unhandledErrors } from './process-faults.ts';

export type { Span, SpanContext, Tracer } from '@opentelemetry/api';
export type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export type TracesExporterKind = 'none' | 'otlp' | 'console';

export interface TelemetryConfig {
  serviceName: string;
  /** Empty when tracing is not exported (`none`). */
  exporters: ('otlp' | 'console')[];
  /** OTLP/HTTP traces URL. */
  otlpUrl: string;
  otlpHeaders: Record<string, string>;
}

const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
/** How long a shutdown waits for the last spans to be exported. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

const exporterNames = ['none', 'otlp', 'console'] as const;
const optionalText = () => z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), z.string().trim().optional());

/** The OTEL_* variables this process reads (OpenTelemetry's own names). */
export const telemetryConfigShape = {
  OTEL_TRACES_EXPORTER: optionalText()
    .refine((v) => !v || v.split(',').every((name) => (exporterNames as readonly string[]).includes(name.trim().toLowerCase())), {
      message: `must be ${exporterNames.join(', ')} or a comma list of them`,
    })
    .describe(
      'Where spans go: none (not exported), otlp (OTLP over HTTP, JSON, batched) or console; a comma list is accepted, none in it turns exporting off. Default: none. Trace context is propagated whatever the value.',
    ),
  OTEL_EXPORTER_OTLP_ENDPOINT: env.optionalUrl().describe('Collector base URL; /v1/traces is appended. Default: http://localhost:4318.'),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: env.optionalUrl().describe('Full traces URL, used as is; takes precedence over OTEL_EXPORTER_OTLP_ENDPOINT.'),
  OTEL_EXPORTER_OTLP_HEADERS: optionalText().describe('Headers sent to the collector: key=value,key2=value2 (URL-encoded).'),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalText().describe('Headers sent with traces; wins over OTEL_EXPORTER_OTLP_HEADERS for a header named in both.'),
  OTEL_SERVICE_NAME: optionalText().describe(
    'The service.name resource attribute of every span this process makes. Default: each service its own name (gateway, identity, catalog, ...), also when several run in one process (`npm start`).',
  ),
};

/** Reads the OTEL_* variables; a bad one is a ConfigError (found at startup). */
export function telemetryConfig(env: NodeJS.ProcessEnv, serviceName: string): TelemetryConfig {
  const config = loadConfig(telemetryConfigShape, env);
  const requested = (config.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const exporters: ('otlp' | 'console')[] = [];
  for (const name of requested) if ((name === 'otlp' || name === 'console') && !exporters.includes(name)) exporters.push(name);
  // `none` anywhere in the list turns exporting off, as the specification says.
  if (requested.includes('none')) exporters.length = 0;
  const endpoint = (config.OTEL_EXPORTER_OTLP_ENDPOINT || DEFAULT_OTLP_ENDPOINT).replace(/\/+$/, '');
  return {
    serviceName: config.OTEL_SERVICE_NAME || serviceName,
    exporters,
    otlpUrl: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || `${endpoint}/v1/traces`,
    otlpHeaders: { ...parseHeaders(config.OTEL_EXPORTER_OTLP_HEADERS), ...parseHeaders(config.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
  };
}

function parseHeaders(value: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = decode(pair.slice(0, at).trim());
    if (key) headers[key] = decode(pair.slice(at + 1).trim());
  }
  return headers;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A service's tracing; `shutdown` flushes and stops its exporter once the last user of the provider stops. */
export interface Telemetry {
  readonly tracer: Tracer;
  /** Whether spans leave the process (an exporter other than `none`). */
  readonly exporting: boolean;
  shutdown(): Promise<void>;
}

interface ProviderEntry {
  provider: BasicTracerProvider;
  tracer: Tracer;
  exporting: boolean;
  users: number;
}

/** The context value naming the service whose work is running (set for each request it serves). */
const SERVICE_KEY = createContextKey('vibestream.service');
/** Each provider's tracer, to its service name. */
const tracerServices = new WeakMap<Tracer, string>();

const providers = new Map<string, ProviderEntry>();
/** Ids for the spans not recorded (the SDK's own generator). */
const ids = new RandomIdGenerator();
/**
 * Carries the active span through async work. Ours always; registered as the global context
 * manager only together with an exporting provider: otherwise the libraries' no-op spans
 * (Apollo Gateway makes six per request) would each pay for an AsyncLocalStorage run.
 */
const contextManager = new AsyncLocalStorageContextManager();
const propagator = new W3CTraceContextPropagator();
let users = 0;
let ownsPropagator = false;
let ownsContextManager = false;
/** Registered globally while some provider exports. */
let routingProvider: RoutingTracerProvider | null = null;

/** Test hook: listeners see every span that ends in this process (see {@link onSpanEnd}). */
const spanListeners = new Set<(span: ReadableSpan) => void>();
const listenerProcessor: SpanProcessor = {
  onStart: () => undefined,
  onEnd: (span) => {
    if (spanListeners.size === 0) return;
    for (const listener of spanListeners) listener(span);
  },
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

/**
 * Calls `listener` with every span that ends in this process, whatever the exporter (tests:
 * an in-memory look at the trace). Returns the function that removes it.
 */
export function onSpanEnd(listener: (span: ReadableSpan) => void): () => void {
  spanListeners.add(listener);
  return () => void spanListeners.delete(listener);
}

/**
 * Starts (or joins) this process's tracing for one service. The W3C propagator is registered
 * globally on first use and unregistered when the last service shuts down.
 */
export function startTelemetry(options: { serviceName: string; env?: NodeJS.ProcessEnv }): Telemetry {
  const config = telemetryConfig(options.env ?? process.env, options.serviceName);
  if (users === 0) {
    contextManager.enable();
    ownsPropagator = propagation.setGlobalPropagator(propagator);
  }
  users++;

  let entry = providers.get(config.serviceName);
  if (!entry) {
    const processors: SpanProcessor[] = [listenerProcessor];
    for (const exporter of config.exporters) {
      processors.push(
        exporter === 'otlp'
          ? new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpUrl, headers: config.otlpHeaders }))
          : new SimpleSpanProcessor(new ConsoleSpanExporter()),
      );
    }
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      spanProcessors: processors,
    });
    const exporting = config.exporters.length > 0;
    entry = { provider, tracer: provider.getTracer('vibestream'), exporting, users: 0 };
    tracerServices.set(entry.tracer, config.serviceName);
    providers.set(config.serviceName, entry);
    if (exporting && !routingProvider) {
      const routing = new RoutingTracerProvider();
      if (trace.setGlobalTracerProvider(routing)) {
        routingProvider = routing;
        ownsContextManager = context.setGlobalContextManager(contextManager);
      }
    }
  }
  entry.users++;
  instrumentClients();

  const joined = entry;
  let stopped = false;
  return {
    tracer: joined.tracer,
    exporting: joined.exporting,
    shutdown: async () => {
      if (stopped) return;
      stopped = true;
      if (--joined.users === 0) {
        providers.delete(config.serviceName);
        if (routingProvider && ![...providers.values()].some((e) => e.exporting)) {
          trace.disable();
          if (ownsContextManager) context.disable();
          ownsContextManager = false;
          routingProvider = null;
        }
        // Flushes what is queued; an unreachable collector does not hold a shutdown up for long.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          joined.provider.shutdown().catch(() => undefined),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS).unref())),
        ]);
        clearTimeout(timer);
      }
      if (--users === 0) {
        if (ownsPropagator) propagation.disable();
        ownsPropagator = false;
        contextManager.disable();
      }
    },
  };
}

/**
 * Runs `handle` inside a server span for one HTTP request, continuing the caller's
 * `traceparent` when there is one. The span ends when the response closes, with its status code.
 */
export function traceHttpRequest<T>(tracer: Tracer, req: IncomingMessage, res: ServerResponse, route: string, handle: () => T): T {
  const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
  const service = tracerServices.get(tracer);
  const entry = service === undefined ? undefined : providers.get(service);
  if (entry?.tracer === tracer && !entry.exporting && spanListeners.size === 0) {
    // No one would see the span: the request runs under a non-recording one with the ids and
    // flags the SDK would have given it (the caller's trace, a span id of its own), so the trace
    // still reaches logs and downstream calls, without the span's attributes, timing and end.
    const caller = trace.getSpanContext(parent);
    const own: SpanContext =
      caller && isSpanContextValid(caller)
        ? {
            traceId: caller.traceId,
            spanId: ids.generateSpanId(),
            traceFlags: caller.traceFlags,
            ...(caller.traceState ? { traceState: caller.traceState } : {}),
          }
        : { traceId: ids.generateTraceId(), spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED };
    return contextManager.with(trace.setSpan(parent, trace.wrapSpanContext(own)).setValue(SERVICE_KEY, service), handle);
  }
  const span = tracer.startSpan(
    `${req.method ?? 'GET'} ${route}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route } },
    parent,
  );
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  const active = trace.setSpan(parent, span);
  return contextManager.with(service ? active.setValue(SERVICE_KEY, service) : active, handle);
}

/**
 * Starts a client span under the active context and writes its `traceparent` (and
 * `tracestate`) into `headers`. The caller ends the span.
 */
export function startClientSpan(tracer: Tracer, name: string, attributes: Attributes, headers: Record<string, unknown>): Span {
  const parent: Context = contextManager.active();
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
  propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter);
  return span;
}

/** The active span's ids (trace id, span id, flags), e.g. for a log line; undefined outside any span. */
export function activeSpanContext(): SpanContext | undefined {
  return trace.getSpanContext(contextManager.active());
}

/** Ends a client span with the HTTP status it got (an error outside 2xx), or as failed with `error`. */
export function endClientSpan(span: Span, statusCode: number | undefined, error?: unknown): void {
  if (statusCode !== undefined) span.setAttribute('http.response.status_code', statusCode);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  else if (statusCode === undefined || statusCode < 200 || statusCode >= 300) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** The provider of the service whose context `ctx` is in; else the first exporting one. */
function providerFor(ctx: Context): ProviderEntry | undefined {
  const service = ctx.getValue(SERVICE_KEY);
  const named = typeof service === 'string' ? providers.get(service) : undefined;
  return named ?? [...providers.values()].find((e) => e.exporting);
}

/** The global provider: each span goes to the provider of the service whose work makes it. */
class RoutingTracerProvider implements TracerProvider {
  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new RoutingTracer(name, version, options);
  }
}

class RoutingTracer implements Tracer {
  private readonly name: string;
  private readonly version: string | undefined;
  private readonly options: TracerOptions | undefined;

  constructor(name: string, version?: string, options?: TracerOptions) {
    this.name = name;
    this.version = version;
    this.options = options;
  }

  startSpan(name: string, options?: SpanOptions, ctx: Context = contextManager.active()): Span {
    const entry = providerFor(ctx);
    if (!entry) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    return entry.provider.getTracer(this.name, this.version, this.options).startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F;
    const [options, ctx = contextManager.active()] = rest as [SpanOptions | undefined, Context | undefined];
    const span = this.startSpan(name, options, ctx);
    return contextManager.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}

/**
 * Where a client span (a query, a Redis command) goes: the tracer of the service whose traced
 * request is running, under that request's active span. Null outside any traced request (polling
 * loops make none), or when no one would see the span (nothing exported, no test listener).
 */
function clientSpanParent(): { tracer: Tracer; ctx: Context } | null {
  const ctx = contextManager.active();
  if (!trace.getSpan(ctx)) return null;
  const service = ctx.getValue(SERVICE_KEY);
  const entry = typeof service === 'string' ? providers.get(service) : undefined;
  if (!entry || (!entry.exporting && spanListeners.size === 0)) return null;
  return { tracer: entry.tracer, ctx };
}

function endSpan(span: Span, error?: unknown): void {
  if (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}

let clientsInstrumented = false;

/**
 * Client spans for `pg` queries and `ioredis` commands, by wrapping `pg.Client#query` and
 * `Redis#sendCommand` once per process (both packages are CommonJS: every importer shares these
 * prototypes, MikroORM's pool included). Statements are recorded as written, with their bound
 * parameters left out; Redis commands by name only.
 */
export function instrumentClients(): void {
  if (clientsInstrumented) return;
  clientsInstrumented = true;
  instrumentPg();
  instrumentRedis();
}

const MAX_STATEMENT_CHARS = 2_000;

function instrumentPg(): void {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function tracedQuery(this: pg.Client & { connectionParameters?: { database?: string; host?: string; port?: number } }, ...args: unknown[]) {
    const parent = clientSpanParent();
    if (!parent) return query.apply(this, args);
    const config = args[0] as string | { text?: string; submit?: unknown } | undefined;
    const text = typeof config === 'string' ? config : (config?.text ?? '');
    const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
    const params = this.connectionParameters;
    const span = parent.tracer.startSpan(
      `${operation}${params?.database ? ` ${params.database}` : ''}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system': 'postgresql',
          'db.system.name': 'postgresql',
          'db.operation.name': operation,
          'db.query.text': text.slice(0, MAX_STATEMENT_CHARS),
          ...(params?.database ? { 'db.namespace': params.database } : {}),
          ...(params?.host ? { 'server.address': params.host } : {}),
          ...(params?.port ? { 'server.port': params.port } : {}),
        },
      },
      parent.ctx,
    );
    const callbackAt = args.findIndex((a) => typeof a === 'function');
    if (callbackAt >= 0) {
      const callback = args[callbackAt] as (error: unknown, ...rest: unknown[]) => unknown;
      args[callbackAt] = function (this: unknown, error: unknown, ...rest: unknown[]) {
        endSpan(span, error);
        return callback.call(this, error, ...rest);
      };
      return query.apply(this, args);
    }
    let result: unknown;
    try {
      result = query.apply(this, args);
    } catch (error) {
      endSpan(span, error);
      throw error;
    }
    if (config && typeof config === 'object' && typeof config.submit === 'function') {
      // A submittable (a cursor, a stream): it reports through events.
      const emitter = result as { once?: (event: string, listener: (error?: unknown) => void) => void };
      emitter.once?.('end', () => endSpan(span));
      emitter.once?.('error', (error) => endSpan(span, error));
    } else if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(
        () => endSpan(span),
        (error: unknown) => endSpan(span, error),
      );
    } else endSpan(span);
    return result;
  };
}

function instrumentRedis(): void {
  type Command = { name: string; promise: Promise<unknown> };
  const proto = Redis.prototype as unknown as { sendCommand: (command: Command, stream?: unknown) => unknown };
  const sendCommand = proto.sendCommand;
  const traced = new WeakSet<Command>();
  proto.sendCommand = function tracedSendCommand(this: Redis, command: Command, stream?: unknown) {
    // A command is sent again from the offline queue (with a stream): traced once.
    const parent = stream === undefined && !traced.has(command) ? clientSpanParent() : null;
    if (!parent) return sendCommand.call(this, command, stream);
    traced.add(command);
    const operation = command.name.toUpperCase();
    const span = parent.tracer.startSpan(
      operation,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system': 'redis',
          'db.system.name': 'redis',
          'db.operation.name': operation,
          ...(this.options.host ? { 'server.address': this.options.host } : {}),
          ...(this.options.port ? { 'server.port': this.options.port } : {}),
        },
      },
      parent.ctx,
    );
    command.promise.then(
      () => endSpan(span),
      (error: unknown) => endSpan(span, error),
    );
    return sendCommand.call(this, command, stream);
  };
}

// ---------------------------------------------------------------------------------------------
// Per-process Prometheus metrics of a subgraph process

export interface ProcessMetrics {
  registry: Registry;
  /** Seconds from an event's `occurredAt` to its handling by a consumer group. */
  eventDeliveryLag: Histogram<'consumer' | 'type'>;
  /** HTTP requests served by a subgraph server. */
  httpDuration: Histogram<'subgraph' | 'route' | 'status'>;
  /** Attempts of durable jobs (jobs/), by kind and outcome: sent, retried, dead, skipped. */
  jobAttempts: Counter<'kind' | 'outcome'>;
}

let processMetricsInstance: ProcessMetrics | null = null;

/** This process's registry (default process metrics included), created on first use. */
export function processMetrics(): ProcessMetrics {
  if (processMetricsInstance) return processMetricsInstance;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.registerMetric(unhandledErrors);
  processMetricsInstance = {
    registry,
    eventDeliveryLag: new Histogram({
      name: 'vibestream_event_delivery_lag_seconds',
      help: 'Seconds from an event occurring (envelope.occurredAt) to its handling by a consumer group',
      labelNames: ['consumer', 'type'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'vibestream_subgraph_http_request_duration_seconds',
      help: 'HTTP requests served by a subgraph',
      labelNames: ['subgraph', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    jobAttempts: new Counter({
      name: 'vibestream_job_attempts_total',
      help: 'Attempts of durable jobs (email, push) by kind and outcome: sent, retried, dead, skipped',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
  };
  return processMetricsInstance;
}
