// Several services in one process, as under `npm start`: each span carries the service.name of
// the context whose work made it (Apollo Gateway's own spans included), and PostgreSQL queries
// and Redis commands made while serving a request are client spans of that request's service.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { onSpanEnd, type ReadableSpan } from '@vibestream/platform';
import { startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { signUp } from '@vibestream/catalog/testing';

let stack: TestStack;
let mediaDir: string;
const ended: ReadableSpan[] = [];
let stopListening: () => void;

beforeAll(async () => {
  // The console exporter makes every provider exporting (as OTLP would) without a collector; its output is muted.
  vi.spyOn(console, 'dir').mockImplementation(() => undefined);
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-telemetry-'));
  stack = await startTestStack('telemetry', [identitySubgraph, catalogSubgraph], {
    OTEL_TRACES_EXPORTER: 'console',
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: 'telemetry-media-signing-secret-0123456789',
  });
  stopListening = onSpanEnd((span) => ended.push(span));
}, 120_000);

afterAll(async () => {
  stopListening?.();
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

const service = (span: ReadableSpan) => span.resource.attributes['service.name'];

/** The spans of one trace, once `ready` says they are all there. */
async function traceOf(traceId: string, ready: (spans: ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
  let spans: ReadableSpan[] = [];
  await expect
    .poll(() => {
      spans = ended.filter((s) => s.spanContext().traceId === traceId);
      return ready(spans);
    })
    .toBe(true);
  return spans;
}

const traceparent = () => {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } };
};

describe('service.name per context in one process', () => {
  it("labels Apollo Gateway's spans gateway, and a subgraph's SQL with that subgraph", async () => {
    const { traceId, headers } = traceparent();
    const res = await stack.gql<{ searchSongs: { totalCount: number } }>('{ searchSongs(query: "anything") { totalCount } }', {}, { headers });
    expect(res.errors).toBeUndefined();

    const spans = await traceOf(traceId, (all) => all.some((s) => s.attributes['db.system'] === 'postgresql') && all.some((s) => s.name === 'gateway.request'));
    // Apollo Gateway traces through the global API: its spans belong to the gateway, not to the first service started (identity).
    for (const name of ['gateway.request', 'gateway.plan', 'gateway.fetch']) {
      const span = spans.find((s) => s.name === name);
      expect(span, name).toBeDefined();
      expect(service(span!), name).toBe('gateway');
    }
    const catalogServer = spans.find((s) => service(s) === 'catalog' && s.name === 'POST /graphql')!;
    const queries = spans.filter((s) => s.attributes['db.system'] === 'postgresql');
    expect(queries.length).toBeGreaterThan(0);
    for (const query of queries) {
      expect(service(query)).toBe('catalog');
      expect(query.kind).toBe(2); // CLIENT
      expect(query.attributes['db.query.text']).toMatch(/select/i);
      expect(query.attributes['db.namespace']).toBeTruthy();
    }
    // Under the subgraph's server span (directly, or under another query's span for nested work).
    expect(queries.some((q) => q.parentSpanContext?.spanId === catalogServer.spanContext().spanId)).toBe(true);
    // Only the two contexts that served the request took part.
    expect(new Set(spans.map(service))).toEqual(new Set(['gateway', 'catalog']));
  });

  it("labels identity's Redis commands and SQL with identity", async () => {
    const fan = await signUp(stack, 'FAN', 'Traced');
    const me = await stack.gql<{ me: { id: string } }>('{ me { id } }', {}, { token: fan.token });
    expect(me.data!.me.id).toBe(fan.userId);

    const { traceId, headers } = traceparent();
    // A wrong password: the sign-in limiter reserves an attempt in Redis before the hash is checked.
    const res = await stack.gql(`mutation { login(email: "nobody-${traceId}@example.com", password: "wrong-password") { accessToken } }`, {}, { headers });
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const spans = await traceOf(
      traceId,
      (all) => all.some((s) => s.attributes['db.system'] === 'redis') && all.some((s) => s.attributes['db.system'] === 'postgresql'),
    );
    const commands = spans.filter((s) => s.attributes['db.system'] === 'redis');
    for (const span of [...commands, ...spans.filter((s) => s.attributes['db.system'] === 'postgresql')]) expect(service(span)).toBe('identity');
    // Commands by name only: no keys or values.
    for (const command of commands)
      expect(Object.keys(command.attributes).sort()).toEqual(['db.operation.name', 'db.system', 'db.system.name', 'server.address', 'server.port']);
  });

  it('makes no client spans outside a traced request (polling loops stay quiet)', async () => {
    const before = ended.length;
    await new Promise((resolve) => setTimeout(resolve, 600));
    const background = ended.slice(before).filter((s) => s.attributes['db.system'] !== undefined);
    expect(background).toEqual([]);
  });
});
