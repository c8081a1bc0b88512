/**
 * Observability shared by the gateway and the subgraphs: OpenTelemetry tracing with W3C
 * trace-context propagation, and the per-process Prometheus registry a subgraph serves on
 * `/metrics`.
 *
 * Tracing (configured from the environment, OpenTelemetry's own variable names):
 * - `OTEL_TRACES_EXPORTER`: `none` (default) | `otlp` | `console` (a comma list is accepted).
 *   Spans are created and `traceparent`/`tracestate` propagated whatever the exporter: with
 *   `none` they are simply not exported, so trace ids still flow gateway → subgraphs.
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
 * The first exporting provider is also registered globally, with the context manager, so
 * libraries that trace through the global API (Apollo Gateway's `gateway.request`,
 * `gateway.plan`, `gateway.fetch`... spans) join the trace. With the exporter off only the
 * propagator is global: those library spans stay no-ops and cost next to nothing, and the
 * active span is read with {@link activeSpanContext}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
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
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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
  global: boolean;
}

const providers = new Map<string, ProviderEntry>();
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
let globalProvider: ProviderEntry | null = null;

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
    entry = { provider, tracer: provider.getTracer('vibestream'), exporting, users: 0, global: false };
    if (exporting && !globalProvider && trace.setGlobalTracerProvider(provider)) {
      entry.global = true;
      globalProvider = entry;
      ownsContextManager = context.setGlobalContextManager(contextManager);
    }
    providers.set(config.serviceName, entry);
  }
  entry.users++;

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
        if (joined.global) {
          trace.disable();
          if (ownsContextManager) context.disable();
          ownsContextManager = false;
          globalProvider = null;
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
  return contextManager.with(trace.setSpan(parent, span), handle);
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

// ---------------------------------------------------------------------------------------------
// Per-process Prometheus metrics of a subgraph process

export interface ProcessMetrics {
  registry: Registry;
  /** Seconds from an event's `occurredAt` to its handling by a consumer group. */
  eventDeliveryLag: Histogram<'consumer' | 'type'>;
  /** HTTP requests served by a subgraph server. */
  httpDuration: Histogram<'subgraph' | 'route' | 'status'>;
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
  };
  return processMetricsInstance;
}
