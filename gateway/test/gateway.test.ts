import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraphServer, type BaseRequestContext, type SubgraphModule } from '@vibestream/platform';
import { createTokenVerifier } from '@vibestream/platform';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { startGateway } from '../src/index.ts';

/** A small subgraph that exposes what the gateway forwards, fails on purpose and answers slowly. */
const probeSdl = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])
type Probe { requestId: String!, userId: String, clientAddress: String! }
type Query {
  probe: Probe!
  explode: String
  slow(ms: Int!): String!
}
`;

let probeCalls = 0;

const probeSubgraph: SubgraphModule = {
  name: 'probe',
  defaultPort: 4099,
  sdl: probeSdl,
  typeDefs: parse(probeSdl),
  async start(options) {
    const { createLogger } = await import('@vibestream/platform');
    const log = options.log ?? createLogger('probe', 'silent');
    const verifier = await createTokenVerifier({
      publicKeyPem: options.env.JWT_PUBLIC_KEY,
      issuer: 'vibestream-identity',
      audience: 'vibestream',
    });
    const server = await startSubgraphServer<BaseRequestContext>({
      name: 'probe',
      port: options.port ?? 0,
      typeDefs: parse(probeSdl),
      verifier,
      log,
      introspection: true,
      context: (base) => base,
      resolvers: {
        Query: {
          probe: (_: unknown, __: unknown, ctx: BaseRequestContext) => (
            probeCalls++,
            {
              requestId: ctx.requestId,
              userId: ctx.principal?.userId ?? null,
              clientAddress: ctx.clientAddress,
            }
          ),
          explode: () => {
            throw new Error('relation "secret_table" does not exist: SELECT password FROM users');
          },
          slow: async (_: unknown, { ms }: { ms: number }) => {
            await new Promise((r) => setTimeout(r, ms));
            return 'done';
          },
        },
      },
    });
    return { name: 'probe', url: server.url, port: server.port, stop: server.stop };
  },
};

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('gateway', [probeSubgraph]);
});
afterAll(async () => stack?.stop());

describe('gateway', () => {
  it('forwards the verified bearer token and the request id to the subgraph', async () => {
    const token = await mintToken(stack.keys, { userId: 'user-123' });
    const res = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'req-abc-1' },
      body: JSON.stringify({ query: '{ probe { requestId userId clientAddress } }' }),
    });
    expect(res.headers.get('x-request-id')).toBe('req-abc-1');
    const body = (await res.json()) as { data: { probe: { requestId: string; userId: string; clientAddress: string } } };
    expect(body.data.probe).toEqual({ requestId: 'req-abc-1', userId: 'user-123', clientAddress: '127.0.0.1' });
  });

  it('gives every request an id when the client sends none', async () => {
    const res = await fetch(stack.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ probe { requestId } }' }),
    });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await res.json()) as { data: { probe: { requestId: string } } }).data.probe.requestId).toBe(id);
  });

  it('answers an unexpected error as INTERNAL_SERVER_ERROR with no stack or SQL, at the gateway and at the subgraph', async () => {
    for (const request of [stack.gql, stack.subgraph('probe')]) {
      const res = await request('{ explode }');
      expect(errorCode(res)).toBe('INTERNAL_SERVER_ERROR');
      const text = JSON.stringify(res.errors);
      expect(text).not.toMatch(/secret_table|SELECT|password|stack|at .*\.ts/);
      expect(res.errors![0]!.message).toBe('Internal server error');
    }
  });

  it('answers a malformed Authorization header as UNAUTHENTICATED', async () => {
    const res = await stack.gql('{ probe { requestId } }', {}, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(errorCode(res)).toBe('UNAUTHENTICATED');
  });

  it('serves health, readiness, metrics, the landing page and the offline GraphiQL', async () => {
    const base = stack.gatewayUrl.replace(/\/graphql$/, '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', subgraphs: { probe: true } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('vibestream_gateway_http_request_duration_seconds');
    const landing = await fetch(stack.gatewayUrl, { headers: { accept: 'text/html' } });
    const html = await landing.text();
    expect(html).toContain('EmbeddedSandbox');
    expect(html).toContain('/graphiql');
    const graphiql = await (await fetch(`${base}/graphiql`)).text();
    expect(graphiql).toContain('GraphiQL');
  });

  it('readiness fails when a subgraph does not answer', async () => {
    const gateway = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', SUBGRAPH_URL_PROBE: 'http://127.0.0.1:9/graphql' },
      supergraphSdl: await supergraphOf(stack),
      port: 0,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${gateway.port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ subgraphs: { probe: false } });
    } finally {
      await gateway.stop();
    }
  });

  it('turns introspection off in production unless enabled', async () => {
    const sdl = await supergraphOf(stack);
    const prod = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1', NODE_ENV: 'production' }, supergraphSdl: sdl, port: 0 });
    const enabled = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' },
      supergraphSdl: sdl,
      port: 0,
    });
    try {
      const query = JSON.stringify({ query: '{ __schema { queryType { name } } }' });
      const headers = { 'content-type': 'application/json' };
      const off = (await (await fetch(`http://127.0.0.1:${prod.port}/graphql`, { method: 'POST', headers, body: query })).json()) as { errors?: unknown[] };
      expect(off.errors?.length).toBeGreaterThan(0);
      const on = (await (await fetch(`http://127.0.0.1:${enabled.port}/graphql`, { method: 'POST', headers, body: query })).json()) as { data?: unknown };
      expect(on.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    } finally {
      await prod.stop();
      await enabled.stop();
    }
  });

  it('serves persisted documents by id and, when only known documents are accepted, refuses everything else', async () => {
    const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const unknown = await post(stack.gatewayUrl, { documentId: 'sha256:' + '0'.repeat(64) });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const strict = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', PERSISTED_DOCUMENTS_ONLY: 'true' },
      supergraphSdl: await supergraphOf(stack),
      port: 0,
    });
    try {
      const raw = await post(`http://127.0.0.1:${strict.port}/graphql`, { query: '{ probe { requestId } }' });
      expect(raw.status).toBe(403);
      const stillUnknown = await post(`http://127.0.0.1:${strict.port}/graphql`, { documentId: 'sha256:' + 'f'.repeat(64) });
      expect(stillUnknown.status).toBe(400);
    } finally {
      await strict.stop();
    }
  });

  it('refuses an operation over the depth, alias or cost limit before any subgraph is called', async () => {
    const before = probeCalls;
    const aliased = `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: probe { requestId }`).join(' ')} }`;
    const res = await stack.gql(aliased);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.extensions!.limit).toBe('aliases');
    expect(probeCalls).toBe(before);
    const within = await stack.gql(`{ ${Array.from({ length: 3 }, (_, i) => `a${i}: probe { requestId }`).join(' ')} }`);
    expect(within.errors).toBeUndefined();
  });

  it("refuses a simple cross-site request (Apollo's csrfPrevention) with 400 before any subgraph is called; a JSON POST is served", async () => {
    const query = '{ probe { requestId } }';
    const json = JSON.stringify({ query });
    const form = new FormData();
    form.set('operations', json);
    // What a page on another site can send without a CORS preflight: a form's or a fetch's
    // simple content types, or a GET that names no operation and asks for no preflight.
    const simple: [string, RequestInit, string][] = [
      ['POST text/plain', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: json }, ''],
      [
        'POST form-urlencoded',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `query=${encodeURIComponent(query)}` },
        '',
      ],
      ['POST multipart/form-data', { method: 'POST', body: form }, ''],
      ['GET', { method: 'GET' }, `?query=${encodeURIComponent(query)}`],
      ['GET text/plain', { method: 'GET', headers: { 'content-type': 'text/plain' } }, `?query=${encodeURIComponent(query)}`],
    ];
    const before = probeCalls;
    for (const [kind, init, search] of simple) {
      for (const url of [stack.gatewayUrl, stack.subgraphs.get('probe')!.url]) {
        const res = await fetch(`${url}${search}`, init);
        const body = await res.text();
        expect({ kind, url, status: res.status }).toEqual({ kind, url, status: 400 });
        expect(body, kind).toMatch(/Cross-Site Request Forgery/);
      }
    }
    expect(probeCalls).toBe(before);

    const post = await fetch(stack.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json });
    expect(post.status).toBe(200);
    expect(((await post.json()) as { data?: { probe: { requestId: string } } }).data?.probe.requestId).toEqual(expect.any(String));
    // A GET a browser could only send after a preflight is served too.
    const preflighted = await fetch(`${stack.gatewayUrl}?query=${encodeURIComponent(query)}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(preflighted.status).toBe(200);
    expect(probeCalls).toBe(before + 2);
  });

  it('rate-limits requests per client address with RATE_LIMITED and Retry-After', async () => {
    const limited = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', RATE_LIMIT_PER_ADDRESS: '3', RATE_LIMIT_WINDOW_SECONDS: '30' },
      supergraphSdl: await supergraphOf(stack),
      port: 0,
    });
    try {
      const url = `http://127.0.0.1:${limited.port}/graphql`;
      const send = () =>
        fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ probe { requestId } }' }) });
      for (let i = 0; i < 3; i++) expect((await send()).status).toBe(200);
      const refused = await send();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('RATE_LIMITED');
    } finally {
      await limited.stop();
    }
  });

  it('drains in-flight requests on shutdown', async () => {
    const gateway = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: await supergraphOf(stack), port: 0 });
    const inFlight = fetch(`http://127.0.0.1:${gateway.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ slow(ms: 400) }' }),
    });
    await new Promise((r) => setTimeout(r, 100));
    const stopping = gateway.stop();
    const res = await inFlight;
    expect(((await res.json()) as { data: { slow: string } }).data.slow).toBe('done');
    await stopping;
    await expect(fetch(`http://127.0.0.1:${gateway.port}/healthz`)).rejects.toThrow();
  });
});

async function supergraphOf(s: TestStack): Promise<string> {
  const { composeSupergraph } = await import('@vibestream/platform');
  return composeSupergraph([probeSubgraph], () => s.subgraphs.get('probe')!.url).supergraph;
}
