import { randomUUID } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '@vibestream/ownership';
import { paymentsSubgraph } from '@vibestream/payments';
import { campaignsSubgraph } from '@vibestream/campaigns';

let stack: TestStack;
let mediaDir: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-forwarding-'));
  stack = await startTestStack('forwarding', [identitySubgraph, catalogSubgraph, ownershipSubgraph, paymentsSubgraph, campaignsSubgraph], {
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: 'forwarding-media-signing-secret-0123456789',
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * Sends `path` byte for byte, as `curl --path-as-is` does: node:http neither resolves dot-segments
 * nor re-encodes anything in it. `body` may be a Buffer or a generator of chunks (sent chunked).
 * Each request has its own connection, with `Connection: close`.
 */
function raw(
  method: string,
  path: string,
  options: { body?: Buffer | (() => AsyncGenerator<Buffer>); headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const { port } = new URL(stack.publicUrl);
  return new Promise((resolve, reject) => {
    const headers = { ...(Buffer.isBuffer(options.body) ? { 'content-length': String(options.body.length) } : {}), ...options.headers };
    let answered = false;
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // Once answered, the rest of the body does not matter.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${path}: no answer in 20 s`)));
    const body = options.body;
    if (!body) return void req.end();
    if (Buffer.isBuffer(body)) return void req.end(body);
    const chunks = body();
    void (async () => {
      for await (const chunk of chunks) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(() => undefined);
  });
}

const entitiesQuery = JSON.stringify({ query: '{ _service { sdl } }' });
const json = { 'content-type': 'application/json' };

describe('forwarded routes cannot be escaped', () => {
  it("never reaches a subgraph's own /graphql, /metrics, /readyz or /healthz, whatever the spelling (400)", async () => {
    const escapes = [
      '/media/%2e%2e/graphql',
      '/media/%2E%2E/graphql',
      '/media/../graphql',
      '/media/.%2e/graphql',
      '/media/%252e%252e/graphql',
      '/media/..%2fgraphql',
      '/media/%2e%2e%2fgraphql',
      '/media/..%5cgraphql',
      '/media/..\\graphql',
      '/media/%2e%2e%5cgraphql',
      '/media/..;/graphql',
      '/media/stream/..%2f..%2fgraphql',
      '/media/upload/%2e%2e/%2e%2e/metrics',
      '/media/%2e%2e/readyz',
      '/media/%2e%2e/healthz',
      '/nft/%2e%2e/graphql',
      '/nft/x/%2e%2e/%2e%2e/metrics',
      '/nft/../graphql',
      '/webhooks/stripe/%2e%2e/%2e%2e/graphql',
      '/webhooks/stripe/../../metrics',
      '/webhooks/%2e%2e/graphql',
      '/media/%00/../graphql',
    ];
    for (const path of escapes) {
      for (const method of ['POST', 'GET']) {
        const res = await raw(method, path, method === 'POST' ? { body: Buffer.from(entitiesQuery), headers: json } : {});
        expect(res.status, `${method} ${path}`).toBe(400);
        expect(res.text, `${method} ${path}`).not.toMatch(/sdl|_service|nodejs_|process_|vibestream_|"status"/);
      }
    }
  });

  it('answers 404 for a path under a forwarded prefix that is no route, and 405 for a route with another method', async () => {
    for (const path of [
      '/media/graphql',
      '/media/metrics',
      '/media/readyz',
      '/media/',
      '/media/stream/a.b',
      `/media/stream/${randomUUID()}/graphql`,
      `/media/hls/${randomUUID()}`,
      `/media/hls/${randomUUID()}/graphql`,
      `/media/hls/${randomUUID()}/master.m3u8/graphql`,
      `/media/hls/${randomUUID()}/128/metrics`,
      `/media/hls/${randomUUID()}/1280/key`,
      `/media/hls/${randomUUID()}/128/seg1.ts.map`,
      '/nft/graphql',
      `/nft/${randomUUID()}/1/metrics`,
      '/webhooks/graphql',
      '/webhooks/stripe/',
    ]) {
      const res = await raw('POST', path, { body: Buffer.from(entitiesQuery), headers: json });
      expect(res.status, path).toBe(404);
      expect(res.text, path).not.toContain('sdl');
    }
    const wrongMethod = await raw('GET', '/webhooks/stripe');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect((await raw('POST', `/media/stream/${randomUUID()}`)).status).toBe(405);
    expect((await raw('PUT', `/nft/${randomUUID()}/1`)).status).toBe(405);
    expect((await raw('POST', `/media/hls/${randomUUID()}/master.m3u8`)).status).toBe(405);
    expect((await raw('DELETE', `/media/hls/${randomUUID()}/128/seg000.ts`)).status).toBe(405);
  });

  it('forwards the routes the subgraphs serve, to the subgraph that serves them', async () => {
    // catalog: a stream URL with a bad signature is catalog's own 403.
    const stream = await raw('GET', `/media/stream/${randomUUID()}?exp=1&sig=nope`);
    expect(stream.status).toBe(403);
    expect(JSON.parse(stream.text)).toEqual({ error: 'Invalid stream signature' });
    // catalog's HLS files: a stream session signature that does not verify is catalog's own 403, for every kind of file.
    const song = randomUUID();
    for (const file of ['master.m3u8', '128/index.m3u8', '320/seg000.ts', '64/key']) {
      const hls = await raw('GET', `/media/hls/${song}/${file}?s=${randomUUID()}&max=320&exp=${Math.floor(Date.now() / 1000) + 600}&sig=nope`);
      expect(hls.status, file).toBe(403);
      expect(JSON.parse(hls.text), file).toEqual({ error: 'Invalid stream signature' });
    }
    // payments: without STRIPE_WEBHOOK_SECRET the webhook is payments' own 503.
    const webhook = await raw('POST', '/webhooks/stripe', { body: Buffer.from('{}'), headers: json });
    expect(webhook.status).toBe(503);
    expect(webhook.text).toContain('STRIPE_WEBHOOK_SECRET');
    // campaigns: an unknown edition is campaigns' 404, and an encoded spelling reaches the same route.
    const before = await campaignsNftRequests();
    expect((await raw('GET', `/nft/${randomUUID()}/1`)).status).toBe(404);
    expect((await raw('GET', `/%6eft/${randomUUID()}/%31`)).status).toBe(404);
    expect(await campaignsNftRequests()).toBe(before + 2);
  });
});

describe('a subgraph refusing a request', () => {
  const bigBody = () => Buffer.alloc(16 * 1024 * 1024, 7);
  const uploadPath = () => `/media/upload/${randomUUID()}?exp=${Math.floor(Date.now() / 1000) + 600}&sig=${'0'.repeat(64)}`;

  it("passes catalog's 403 for a bad upload signature through as it is, before a large body is sent", async () => {
    const res = await raw('PUT', uploadPath(), { body: bigBody(), headers: { 'content-type': 'audio/wav' } });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ error: 'Invalid upload signature' });
  });

  it('does the same for a client that keeps its connection alive (fetch)', async () => {
    const res = await fetch(`${stack.publicUrl}${uploadPath()}`, { method: 'PUT', headers: { 'content-type': 'audio/wav' }, body: new Uint8Array(bigBody()) });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: 'Invalid upload signature' });
  });

  it('does the same for a large body sent chunked, without a length', async () => {
    const res = await raw('PUT', uploadPath(), {
      headers: { 'content-type': 'audio/wav' },
      body: async function* () {
        for (let i = 0; i < 256; i++) yield Buffer.alloc(64 * 1024, i);
      },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({ error: 'Invalid upload signature' });
  });

  it('still answers the next request on the gateway', async () => {
    const res = await fetch(`${stack.publicUrl}/healthz`);
    expect(res.status).toBe(200);
  });
});

/** campaigns' own count of requests it served on its /nft/ route (its Prometheus metrics). */
async function campaignsNftRequests(): Promise<number> {
  const text = await (await fetch(stack.subgraphs.get('campaigns')!.url.replace(/\/graphql$/, '/metrics'))).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('vibestream_subgraph_http_request_duration_seconds_count{') && line.includes('subgraph="campaigns"') && line.includes('route="/nft/"'),
    )
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}
