import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { parse } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activeSpanContext,
  createLogger,
  createTokenVerifier,
  onSpanEnd,
  startSubgraphServer,
  startTelemetry,
  telemetryConfig,
  type BaseRequestContext,
  type ReadableSpan,
  type SubgraphModule,
} from '@vibestream/platform';
import { publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/rewards/events';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import type { GatewayContext } from '../src/context.ts';
import { SubgraphDataSource, type SubgraphFetchErrorKind } from '../src/data-source.ts';
import { OperationNameLabels } from '../src/metrics.ts';
import { startRecordingServer } from './recording-server.ts';

/**
 * A subgraph that shows the trace context its resolver runs in, and serves one live field
 * (`orderBookUpdated`, read back through `orderBook`) so subscriptions can be observed without
 * the market subgraph.
 */
const probeSdl = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])
type ObservedTrace { traceId: String, spanId: String, traceFlags: Int }
type ObservedBook { songId: ID! }
type Query {
  observedTrace: ObservedTrace!
  orderBook(songId: ID!): ObservedBook!
}
type Subscription {
  orderBookUpdated(songId: ID!): ObservedBook!
}
`;

const probeSubgraph: SubgraphModule = {
  name: 'observe',
  defaultPort: 4098,
  sdl: probeSdl,
  typeDefs: parse(probeSdl),
  async start(options) {
    const log = options.log ?? createLogger('observe', 'silent');
    const verifier = await createTokenVerifier({ publicKeyPem: options.env.JWT_PUBLIC_KEY, issuer: 'vibestream-identity', audience: 'vibestream' });
    const server = await startSubgraphServer<BaseRequestContext>({
      name: 'observe',
      port: options.port ?? 0,
      typeDefs: parse(probeSdl),
      verifier,
      log,
      introspection: true,
      context: (base) => base,
      resolvers: {
        Query: {
          observedTrace: () => {
            const span = activeSpanContext();
            return { traceId: span?.traceId ?? null, spanId: span?.spanId ?? null, traceFlags: span?.traceFlags ?? null };
          },
          orderBook: (_: unknown, { songId }: { songId: string }) => ({ songId }),
        },
      },
    });
    return { name: 'observe', url: server.url, port: server.port, stop: server.stop };
  },
};

let stack: TestStack;
let mediaDir: string;
const clients: Client[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-obs-'));
  stack = await startTestStack('observability', [identitySubgraph, catalogSubgraph, probeSubgraph], {
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: 'observability-media-signing-secret-0123456789',
  });
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

const gatewayMetrics = async () => (await fetch(`${stack.publicUrl}/metrics`)).text();
const subgraphMetrics = async (name: string) => (await fetch(stack.subgraphs.get(name)!.url.replace(/\/graphql$/, '/metrics'))).text();

/** The value of one sample (`name{labels} value`), or null when it is not there. */
function sample(text: string, name: string): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return null;
}

async function until<T>(read: () => Promise<T> | T, check: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  return value;
}

describe('/metrics on the gateway', () => {
  it('counts and times operations by name and type, and times the subgraph fetches', async () => {
    const named = await stack.gql('query ObservedProbe { observedTrace { traceId } }');
    expect(named.errors).toBeUndefined();
    await stack.gql('{ observedTrace { spanId } }');
    const failed = await stack.gql('query Broken { noSuchField }');
    expect(failed.errors).toBeDefined();

    const text = await gatewayMetrics();
    expect(text).toContain('vibestream_gateway_operations_total{operation_name="ObservedProbe",operation_type="query",outcome="success"} 1');
    expect(text).toContain('vibestream_gateway_operation_duration_seconds_count{operation_name="ObservedProbe",operation_type="query"} 1');
    expect(text).toMatch(/vibestream_gateway_operation_duration_seconds_bucket\{le="0\.\d+",operation_name="ObservedProbe",operation_type="query"\} \d/);
    expect(text).toContain('vibestream_gateway_operations_total{operation_name="anonymous",operation_type="query",outcome="success"} 1');
    // Refused by validation, before the operation resolved: named from its document all the same.
    expect(text).toContain('vibestream_gateway_operations_total{operation_name="Broken",operation_type="query",outcome="error"} 1');
    expect(sample(text, 'vibestream_gateway_subgraph_fetch_duration_seconds_count{subgraph="observe"}')).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('vibestream_gateway_subgraph_fetch_errors_total{subgraph="observe"');
  });

  it('caps operation names: persisted documents always, then a fixed number of others, the rest "other"', () => {
    const labels = new OperationNameLabels(OperationNameLabels.namesIn(['query Known { a }', 'mutation Also($x: ID) { b(x: $x) }', 'not graphql {']), 2);
    expect(labels.label(null)).toBe('anonymous');
    expect(labels.label('First')).toBe('First');
    expect(labels.label('Second')).toBe('Second');
    expect(labels.label('Third')).toBe('other');
    expect(labels.label('First')).toBe('First');
    expect(labels.label('Known')).toBe('Known');
    expect(labels.label('Also')).toBe('Also');
    expect(new OperationNameLabels().label('not a name!')).toBe('other');
  });
});

describe('trace context', () => {
  it('continues an incoming traceparent: the subgraph runs in the same trace, under the gateway client span', async () => {
    const ended: ReadableSpan[] = [];
    const stop = onSpanEnd((span) => ended.push(span));
    try {
      const traceId = randomBytes(16).toString('hex');
      const parentSpanId = randomBytes(8).toString('hex');
      const res = await stack.gql<{ observedTrace: { traceId: string; spanId: string; traceFlags: number } }>(
        '{ observedTrace { traceId spanId traceFlags } }',
        {},
        { headers: { traceparent: `00-${traceId}-${parentSpanId}-01`, tracestate: 'vendor=abc' } },
      );
      const seen = res.data!.observedTrace;
      expect(seen.traceId).toBe(traceId);
      expect(seen.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(seen.spanId).not.toBe(parentSpanId);
      expect(seen.traceFlags).toBe(1);

      const inTrace = await until(
        () => ended.filter((s) => s.spanContext().traceId === traceId),
        (spans) => spans.length >= 3,
      );
      const service = (s: ReadableSpan) => s.resource.attributes['service.name'];
      const gatewayServer = inTrace.find((s) => service(s) === 'gateway' && s.name === 'POST /graphql')!;
      const client = inTrace.find((s) => service(s) === 'gateway' && s.name === 'subgraph observe')!;
      const subgraphServer = inTrace.find((s) => service(s) === 'observe' && s.name === 'POST /graphql')!;
      expect(gatewayServer.parentSpanContext?.spanId).toBe(parentSpanId);
      expect(client.parentSpanContext?.spanId).toBe(gatewayServer.spanContext().spanId);
      // The subgraph continued the traceparent the gateway wrote for its fetch, tracestate included.
      expect(subgraphServer.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
      expect(subgraphServer.spanContext().spanId).toBe(seen.spanId);
      expect(subgraphServer.spanContext().traceState?.get('vendor')).toBe('abc');
      expect(gatewayServer.attributes['http.response.status_code']).toBe(200);
    } finally {
      stop();
    }
  });

  it('forwards /media/* in the same trace: the catalog serves it under the gateway forward span', async () => {
    const ended: ReadableSpan[] = [];
    const stop = onSpanEnd((span) => ended.push(span));
    try {
      const traceId = randomBytes(16).toString('hex');
      const parentSpanId = randomBytes(8).toString('hex');
      const res = await fetch(`${stack.publicUrl}/media/stream/${randomUUID()}?expires=1&signature=x`, {
        headers: { traceparent: `00-${traceId}-${parentSpanId}-01` },
      });
      await res.arrayBuffer();
      expect(res.status).toBeGreaterThanOrEqual(400);
      const inTrace = await until(
        () => ended.filter((s) => s.spanContext().traceId === traceId),
        (spans) => spans.length >= 3,
      );
      const service = (s: ReadableSpan) => s.resource.attributes['service.name'];
      const gatewayServer = inTrace.find((s) => service(s) === 'gateway' && s.kind === 1)!;
      const forward = inTrace.find((s) => service(s) === 'gateway' && s.name === 'forward catalog')!;
      const catalogServer = inTrace.find((s) => service(s) === 'catalog')!;
      expect(gatewayServer.parentSpanContext?.spanId).toBe(parentSpanId);
      expect(forward.parentSpanContext?.spanId).toBe(gatewayServer.spanContext().spanId);
      expect(catalogServer.parentSpanContext?.spanId).toBe(forward.spanContext().spanId);
      expect(forward.attributes['http.response.status_code']).toBe(res.status);
    } finally {
      stop();
    }
  });

  it('starts a trace when the request brings none', async () => {
    const res = await stack.gql<{ observedTrace: { traceId: string; spanId: string } }>('{ observedTrace { traceId spanId } }');
    expect(res.data!.observedTrace.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(res.data!.observedTrace.traceId).not.toBe('0'.repeat(32));
  });

  it('writes traceparent into real subgraph fetches only, and reports each fetch once (merged waiters are not fetches)', async () => {
    const fake = await startRecordingServer(() => ({ delayMs: 50, body: { data: { echo: 'ok' } } }));
    const telemetry = startTelemetry({ serviceName: 'data-source-test', env: {} });
    try {
      const fetched: [string, number, SubgraphFetchErrorKind | null][] = [];
      const source = new SubgraphDataSource('fake', fake.url, 5_000, {}, { tracer: telemetry.tracer, fetched: (...args) => void fetched.push(args) });
      const context: GatewayContext = { requestId: randomUUID(), principal: null, authorization: null, clientAddress: '10.0.0.1' };
      const call = () =>
        source.process({
          kind: 'incoming operation',
          request: { query: 'query Q__fake__0{echo}', variables: {} },
          context,
          incomingRequestContext: {},
        } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>);
      await Promise.all([call(), call(), call()]);
      expect(fake.count()).toBe(1);
      expect(fetched).toHaveLength(1);
      expect(fetched[0]![0]).toBe('fake');
      expect(fetched[0]![1]).toBeGreaterThan(0.03);
      expect(fetched[0]![2]).toBeNull();
      expect(fake.requests[0]!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

      fake.respond(() => ({ status: 503, body: { errors: [{ message: 'down' }] } }));
      await call();
      expect(fetched[1]![2]).toBe('http_5xx');
      const unreachable = new SubgraphDataSource('gone', 'http://127.0.0.1:1/graphql', 5_000, {}, { fetched: (...args) => void fetched.push(args) });
      await expect(
        unreachable.process({
          kind: 'incoming operation',
          request: { query: '{echo}', variables: {} },
          context,
          incomingRequestContext: {},
        } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>),
      ).rejects.toThrow();
      expect(fetched[2]).toEqual(['gone', expect.any(Number), 'connection']);
    } finally {
      await telemetry.shutdown();
      await fake.stop();
    }
  });

  it('reads OTEL_* configuration: exporter off by default, otlp and console on request', () => {
    expect(telemetryConfig({}, 'gateway')).toMatchObject({ serviceName: 'gateway', exporters: [], otlpUrl: 'http://localhost:4318/v1/traces' });
    expect(
      telemetryConfig(
        {
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
          OTEL_SERVICE_NAME: 'edge',
          OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=a%3Db',
        },
        'gateway',
      ),
    ).toMatchObject({ serviceName: 'edge', exporters: ['otlp'], otlpUrl: 'http://collector:4318/v1/traces', otlpHeaders: { 'x-api-key': 'a=b' } });
    expect(telemetryConfig({ OTEL_TRACES_EXPORTER: 'console,otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/traces' }, 'g')).toMatchObject({
      exporters: ['console', 'otlp'],
      otlpUrl: 'http://c/traces',
    });
    expect(telemetryConfig({ OTEL_TRACES_EXPORTER: 'none' }, 'g').exporters).toEqual([]);
    expect(() => telemetryConfig({ OTEL_TRACES_EXPORTER: 'zipkin' }, 'g')).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});

describe('live metrics', () => {
  it('counts open WebSocket connections and subscriptions, and times live event delivery', async () => {
    const before = await gatewayMetrics();
    const connectionsBefore = sample(before, 'vibestream_gateway_websocket_connections') ?? 0;
    const lagBefore = sample(before, 'vibestream_gateway_live_event_lag_seconds_count') ?? 0;

    let onConnected!: () => void;
    const connected = new Promise<void>((r) => (onConnected = r));
    const client = createClient({
      url: stack.gatewayUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      on: { connected: () => onConnected() },
    });
    clients.push(client);
    await connected;
    expect(sample(await gatewayMetrics(), 'vibestream_gateway_websocket_connections')).toBe(connectionsBefore + 1);

    const songId = randomUUID();
    const events: unknown[] = [];
    const errors: unknown[] = [];
    const unsubscribe = client.subscribe(
      { query: 'subscription Book($s: ID!) { orderBookUpdated(songId: $s) { songId } }', variables: { s: songId } },
      { next: (value) => (value.errors ? errors.push(...value.errors) : events.push(value.data)), error: (e) => errors.push(e), complete: () => undefined },
    );
    await until(gatewayMetrics, (text) => sample(text, 'vibestream_gateway_subscriptions') === 1);
    // The Redis subscription may still be on its way: publish until an event comes through.
    await until(
      async () => {
        await stack.infra.live.publish(`orderBookUpdated:${songId}`, { songId });
        await new Promise((r) => setTimeout(r, 100));
        return events.length;
      },
      (n) => n > 0,
    );
    expect(errors).toEqual([]);
    expect(events[0]).toEqual({ orderBookUpdated: { songId } });
    const during = await until(gatewayMetrics, (text) => (sample(text, 'vibestream_gateway_live_event_lag_seconds_count') ?? 0) >= lagBefore + events.length);
    expect(sample(during, 'vibestream_gateway_live_event_lag_seconds_count')).toBeGreaterThanOrEqual(lagBefore + 1);
    // The gateway's own lookups for live events are not client operations.
    expect(during).not.toContain('operation_name="LiveEvent"');

    unsubscribe();
    expect(sample(await until(gatewayMetrics, (text) => sample(text, 'vibestream_gateway_subscriptions') === 0), 'vibestream_gateway_subscriptions')).toBe(0);
    await client.dispose();
    const after = await until(gatewayMetrics, (text) => sample(text, 'vibestream_gateway_websocket_connections') === connectionsBefore);
    expect(sample(after, 'vibestream_gateway_websocket_connections')).toBe(connectionsBefore);
  });
});

describe('/metrics on a subgraph', () => {
  it('shows event delivery lag per consumer and type once an event is handled, and the process metrics', async () => {
    const occurredAt = new Date(Date.now() - 2_000);
    await publishEvent(
      stack,
      ListenCompleted,
      { sessionId: randomUUID(), userId: randomUUID(), songId: randomUUID(), listenedSeconds: 30, completedAt: occurredAt.toISOString() },
      { occurredAt: occurredAt.toISOString() },
    );
    const series = 'vibestream_event_delivery_lag_seconds_count{consumer="catalog",type="listen.completed.v1"}';
    const text = await until(
      () => subgraphMetrics('catalog'),
      (t) => (sample(t, series) ?? 0) >= 1,
    );
    expect(sample(text, series)).toBeGreaterThanOrEqual(1);
    // At least the two seconds the event was old when it was appended.
    expect(sample(text, 'vibestream_event_delivery_lag_seconds_sum{consumer="catalog",type="listen.completed.v1"}')).toBeGreaterThanOrEqual(2);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('vibestream_subgraph_http_request_duration_seconds');
  });
});
