// The partner graph: API keys from identity, /public/graphql serving only the public schema.
// gateway.ts mounts the handler on the gateway itself; here it runs on a small server of its
// own in front of the test stack's gateway, which it calls over HTTP as an anonymous client.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema, parse, type FormattedExecutionResult } from 'graphql';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseConfigShape, composeSupergraph, env, listen, loadConfig, projectRoot, type SubgraphModule } from '@vibestream/platform';
import { errorCode, graphqlClient, mintToken, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { API_KEY_VERIFY_PATH, createGatewayPublicGraph, PUBLIC_GRAPHQL_PATH, publicGraphConfigShape } from '../src/public-graph.ts';

const ADMIN_EMAIL = 'root@vibestream.test';
const ADMIN_PASSWORD = 'correct horse battery';
const INTERNAL_API_TOKEN = randomBytes(32).toString('base64url');
const RATE_LIMIT = 15;
/** How long the test's gateway trusts identity's answer about a key. */
const CACHE_SECONDS = 1;

const CREATE_KEY = `mutation CreateApiKey($name: String!) { createApiKey(name: $name) { key apiKey { id name prefix createdAt revokedAt lastUsedAt } } }`;
const REVOKE_KEY = `mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
const LIST_KEYS = `query ApiKeys { apiKeys { id name prefix revokedAt lastUsedAt } }`;

let stack: TestStack;
let mediaDir: string;
let db: pg.Client;
let server: Server;
let publicUrl: string;
let adminToken: string;
const song = { id: randomUUID(), title: 'Partner Anthem', artistName: 'Open Data Band' };

/** POSTs to /public/graphql, with a key when given. */
async function publicGql<T = Record<string, unknown>>(
  query: string,
  options: { key?: string; variables?: Record<string, unknown> } = {},
): Promise<GraphQLResult<T> & { headers: Headers }> {
  const response = await fetch(publicUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.key ? { 'x-api-key': options.key } : {}) },
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  const body = (await response.json()) as GraphQLResult<T>;
  return { ...body, status: response.status, headers: response.headers };
}

async function createKey(name: string): Promise<{ key: string; id: string; prefix: string }> {
  const res = await stack.gql<{ createApiKey: { key: string; apiKey: { id: string; prefix: string } } }>(CREATE_KEY, { name }, { token: adminToken });
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return { key: res.data.createApiKey.key, id: res.data.createApiKey.apiKey.id, prefix: res.data.createApiKey.apiKey.prefix };
}

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-public-'));
  stack = await startTestStack('publicgraph', [identitySubgraph, catalogSubgraph], {
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    INTERNAL_API_TOKEN,
    MEDIA_DIR: mediaDir,
  });
  db = stack.db;
  // A published song, written straight to catalog's tables as a fixture.
  const artistId = randomUUID();
  await db.query('insert into catalog.artists (id, user_id, name) values ($1, $2, $3)', [artistId, randomUUID(), song.artistName]);
  await db.query(
    `insert into catalog.songs (id, artist_id, title, genre, status, artist_name, duration_seconds, media_key, media_content_type, media_bytes, media_etag, published_at)
     values ($1, $2, $3, 'Pop', 'PUBLISHED', $4, 180, 'k', 'audio/wav', 1, 'e', now())`,
    [song.id, artistId, song.title, song.artistName],
  );

  const login = await stack.gql<{ login: { accessToken: string } }>(`mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, {
    e: ADMIN_EMAIL,
    p: ADMIN_PASSWORD,
  });
  if (!login.data) throw new Error(JSON.stringify(login.errors));
  adminToken = login.data.login.accessToken;

  // What gateway.ts wires (createGatewayPublicGraph): the public schema of the supergraph
  // served, identity's verify route, the per-key limiter on the stack's Redis, and the
  // gateway's pipeline as an anonymous caller (here over HTTP; gateway.ts uses executeOperation).
  const composed = composeSupergraph([identitySubgraph, catalogSubgraph]);
  const config = loadConfig(
    { ...baseConfigShape, ...publicGraphConfigShape, MAX_REQUEST_BYTES: env.int(1_048_576) },
    { ...stack.env, PUBLIC_RATE_LIMIT_PER_KEY: String(RATE_LIMIT), API_KEY_CACHE_SECONDS: String(CACHE_SECONDS) },
  );
  const handler = await createGatewayPublicGraph({
    config,
    env: stack.env,
    supergraphSdl: composed.supergraph,
    apiSchema: buildSchema(composed.api),
    identityUrl: () => stack.subgraphs.get('identity')!.url,
    redis: stack.infra.redis,
    clientAddress: (req) => req.socket.remoteAddress ?? 'unknown',
    log: stack.log,
    executeViaGateway: async ({ query, variables, operationName }) => {
      const response = await fetch(stack.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables, operationName }),
      });
      return { status: response.status, result: (await response.json()) as FormattedExecutionResult };
    },
  });
  server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== PUBLIC_GRAPHQL_PATH) {
      res.writeHead(404).end();
      return;
    }
    handler(req, res).catch((error: unknown) => {
      stack.log.error({ err: error }, 'public graph failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  publicUrl = `http://127.0.0.1:${port}${PUBLIC_GRAPHQL_PATH}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

describe('API keys (identity)', () => {
  it('an ADMIN creates a key, shown once; only its SHA-256 is stored', async () => {
    const res = await stack.gql<{ createApiKey: { key: string; apiKey: { id: string; name: string; prefix: string; revokedAt: null; lastUsedAt: null } } }>(
      CREATE_KEY,
      { name: '  Partner One  ' },
      { token: adminToken },
    );
    expect(res.errors).toBeUndefined();
    const { key, apiKey } = res.data!.createApiKey;
    expect(key).toMatch(/^vsk_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({ name: 'Partner One', prefix: key.slice(0, 12), revokedAt: null, lastUsedAt: null });

    // Not retrievable again: ApiKey has no key field, and the row holds only the hash.
    const again = await stack.gql(`{ apiKeys { id key } }`, {}, { token: adminToken });
    expect(errorCode(again)).toBe('GRAPHQL_VALIDATION_FAILED');
    const listed = await stack.gql<{ apiKeys: { id: string; name: string; prefix: string }[] }>(LIST_KEYS, {}, { token: adminToken });
    expect(listed.data!.apiKeys).toContainEqual(expect.objectContaining({ id: apiKey.id, name: 'Partner One', prefix: key.slice(0, 12) }));
    expect(JSON.stringify(listed)).not.toContain(key);
    const row = await db.query('select * from identity.api_keys where id = $1', [apiKey.id]);
    expect(row.rows[0].key_hash).toBe(createHash('sha256').update(key).digest('hex'));
    expect(JSON.stringify(row.rows[0])).not.toContain(key);
  });

  it('only ADMINs create, list and revoke keys', async () => {
    const fan = await mintToken(stack.keys, { roles: ['FAN', 'ARTIST'] });
    expect(errorCode(await stack.gql(CREATE_KEY, { name: 'x' }, { token: fan }))).toBe('FORBIDDEN');
    expect(errorCode(await stack.gql(LIST_KEYS, {}, { token: fan }))).toBe('FORBIDDEN');
    expect(errorCode(await stack.gql(REVOKE_KEY, { id: randomUUID() }, { token: fan }))).toBe('FORBIDDEN');
    expect(errorCode(await stack.gql(CREATE_KEY, { name: 'x' }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(CREATE_KEY, { name: '   ' }, { token: adminToken }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(REVOKE_KEY, { id: randomUUID() }, { token: adminToken }))).toBe('NOT_FOUND');
  });

  it('the verify route answers only callers with the internal token', async () => {
    const { key } = await createKey('route check');
    const url = new URL(API_KEY_VERIFY_PATH, stack.subgraphs.get('identity')!.url);
    const ask = (headers: Record<string, string>, body: unknown) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await ask({}, { key })).status).toBe(401);
    expect((await ask({ 'x-internal-token': 'x'.repeat(43) }, { key })).status).toBe(401);
    const ok = await ask({ 'x-internal-token': INTERNAL_API_TOKEN }, { key });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ valid: true, name: 'route check' });
    expect(await (await ask({ 'x-internal-token': INTERNAL_API_TOKEN }, { key: key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A') })).json()).toEqual({
      valid: false,
    });
    expect((await ask({ 'x-internal-token': INTERNAL_API_TOKEN }, { nope: 1 })).status).toBe(400);
  });
});

describe('/public/graphql', () => {
  it('refuses callers without a valid key with 401 UNAUTHENTICATED', async () => {
    const query = `{ trendingSongs { id } }`;
    const none = await publicGql(query);
    expect(none.status).toBe(401);
    expect(errorCode(none)).toBe('UNAUTHENTICATED');
    const unknown = await publicGql(query, { key: `vsk_${randomBytes(32).toString('base64url')}` });
    expect(unknown.status).toBe(401);
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    const garbage = await publicGql(query, { key: 'not a key at all!' });
    expect(garbage.status).toBe(401);
    // A bearer token is no API key.
    const token = await fetch(publicUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query }),
    });
    expect(token.status).toBe(401);
  });

  it('answers public queries with a key, through the gateway', async () => {
    const { key } = await createKey('catalog partner');
    const res = await publicGql<{
      song: { title: string; durationSeconds: number; artist: { name: string } };
      searchSongs: { totalCount: number; edges: { node: { id: string; title: string } }[] };
      trendingSongs: { id: string }[];
    }>(
      `query Public($id: ID!) {
        song(id: $id) { title durationSeconds artist { name } }
        searchSongs(query: "anthem", first: 5) { totalCount edges { node { id title } } }
        trendingSongs(first: 5) { id }
      }`,
      { key, variables: { id: song.id } },
    );
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data!.song).toEqual({ title: song.title, durationSeconds: 180, artist: { name: song.artistName } });
    expect(res.data!.searchSongs.edges.map((e) => e.node.id)).toContain(song.id);
    expect(Array.isArray(res.data!.trendingSongs)).toBe(true);

    // identity recorded the use.
    const listed = await stack.gql<{ apiKeys: { name: string; lastUsedAt: string | null }[] }>(LIST_KEYS, {}, { token: adminToken });
    expect(listed.data!.apiKeys.find((k) => k.name === 'catalog partner')!.lastUsedAt).not.toBeNull();
  });

  it('cannot see private fields: they fail validation as unknown', async () => {
    const { key } = await createKey('curious partner');
    for (const query of [
      `query { song(id: "${song.id}") { title streamUrl } }`,
      `query { song(id: "${song.id}") { codec } }`,
      `query { me { id email } }`,
      `query { artist(id: "x") { user { id } } }`,
      `query { apiKeys { id } }`,
      `query { myPlaylists { totalCount } }`,
      `mutation { createApiKey(name: "mine") { key } }`,
      `mutation { login(email: "a@b.c", password: "x") { accessToken } }`,
      `mutation { __typename }`,
      `subscription { __typename }`,
    ]) {
      const res = await publicGql(query, { key });
      expect(res.status, query).toBe(400);
      expect(errorCode(res), query).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(res.data, query).toBeUndefined();
    }
  });

  it('introspection shows only the public schema', async () => {
    const { key } = await createKey('introspecting partner');
    const res = await publicGql<{
      __schema: { mutationType: null; subscriptionType: null; queryType: { fields: { name: string }[] }; types: { name: string }[] };
      song: { fields: { name: string }[] };
      apiKey: null;
      user: null;
    }>(
      `{
        __schema { mutationType { name } subscriptionType { name } queryType { fields { name } } types { name } }
        song: __type(name: "Song") { fields { name } }
        apiKey: __type(name: "ApiKey") { name }
        user: __type(name: "User") { name }
      }`,
      { key },
    );
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    const { __schema: schema } = res.data!;
    expect(schema.mutationType).toBeNull();
    expect(schema.subscriptionType).toBeNull();
    expect(schema.queryType.fields.map((f) => f.name).sort()).toEqual(['album', 'artist', 'searchSongs', 'song', 'trendingSongs']);
    const types = schema.types.map((t) => t.name);
    for (const hidden of ['ApiKey', 'CreatedApiKey', 'User', 'Wallet', 'AuthPayload', 'Playlist', 'RegisterInput', 'Mutation'])
      expect(types).not.toContain(hidden);
    expect(types).toEqual(expect.arrayContaining(['Song', 'Artist', 'Album', 'SongConnection', 'DateTime']));
    const songFields = res.data!.song.fields.map((f) => f.name);
    expect(songFields).toContain('title');
    for (const hidden of ['streamUrl', 'codec', 'bitrateKbps']) expect(songFields).not.toContain(hidden);
    expect(res.data!.apiKey).toBeNull();
    expect(res.data!.user).toBeNull();

    // Mixed with data fields, introspection would be answered by the full graph: refused.
    const mixed = await publicGql(`{ __schema { types { name } } trendingSongs { id } }`, { key });
    expect(mixed.status).toBe(400);
    expect(errorCode(mixed)).toBe('BAD_USER_INPUT');
  });

  it('refuses a revoked key', async () => {
    const query = `{ trendingSongs { id } }`;
    // Revoked before any use: refused at once.
    const fresh = await createKey('short-lived');
    expect(errorCode(await stack.gql(REVOKE_KEY, { id: fresh.id }, { token: adminToken }))).toBeUndefined();
    const refused = await publicGql(query, { key: fresh.key });
    expect(refused.status).toBe(401);
    expect(errorCode(refused)).toBe('UNAUTHENTICATED');

    // In use, then revoked: refused once the gateway's cached answer expires.
    const used = await createKey('revoked partner');
    expect((await publicGql(query, { key: used.key })).status).toBe(200);
    const revoked = await stack.gql<{ revokeApiKey: { id: string; revokedAt: string } }>(REVOKE_KEY, { id: used.id }, { token: adminToken });
    expect(revoked.data!.revokeApiKey.revokedAt).not.toBeNull();
    // Revoking again changes nothing.
    const again = await stack.gql<{ revokeApiKey: { revokedAt: string } }>(REVOKE_KEY, { id: used.id }, { token: adminToken });
    expect(again.data!.revokeApiKey.revokedAt).toBe(revoked.data!.revokeApiKey.revokedAt);
    await new Promise((r) => setTimeout(r, CACHE_SECONDS * 1000 + 200));
    const after = await publicGql(query, { key: used.key });
    expect(after.status).toBe(401);
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
  });

  it('limits requests per key: RATE_LIMITED with retryAfterSeconds', async () => {
    const busy = await createKey('busy partner');
    const calm = await createKey('calm partner');
    const query = `{ trendingSongs(first: 1) { id } }`;
    for (let i = 0; i < RATE_LIMIT; i++) expect((await publicGql(query, { key: busy.key })).status).toBe(200);
    const limited = await publicGql(query, { key: busy.key });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(limited.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key has its own window.
    expect((await publicGql(query, { key: calm.key })).status).toBe(200);
  });

  it('leaves /graphql as it was: the full API, private fields included', async () => {
    const res = await graphqlClient(stack.gatewayUrl)<{ song: { title: string; streamUrl: string | null } }>(
      `query($id: ID!) { song(id: $id) { title streamUrl } }`,
      {
        id: song.id,
      },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.song.title).toBe(song.title);
  });
});

describe('createGatewayPublicGraph', () => {
  async function answerOf(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<number> {
    const probe = createServer((req, res) => void handler(req, res));
    const port = await listen(probe, 0, '127.0.0.1');
    try {
      const response = await fetch(`http://127.0.0.1:${port}${PUBLIC_GRAPHQL_PATH}`, { method: 'POST', headers: { 'x-api-key': 'vsk_x' } });
      return response.status;
    } finally {
      await new Promise((resolve) => probe.close(resolve));
    }
  }
  const deps = (overrides: Record<string, string>, modules: SubgraphModule[]) => {
    const composed = composeSupergraph(modules);
    return {
      config: loadConfig({ ...baseConfigShape, ...publicGraphConfigShape, MAX_REQUEST_BYTES: env.int(1_048_576) }, { ...stack.env, ...overrides }),
      env: { ...stack.env, ...overrides },
      supergraphSdl: composed.supergraph,
      apiSchema: buildSchema(composed.api),
      identityUrl: () => undefined,
      redis: null,
      clientAddress: () => '127.0.0.1',
      log: stack.log,
      executeViaGateway: () => Promise.reject(new Error('not reached')),
    };
  };

  it('answers 503 in production without INTERNAL_API_TOKEN', async () => {
    const handler = await createGatewayPublicGraph(deps({ NODE_ENV: 'production', INTERNAL_API_TOKEN: '' }, [identitySubgraph, catalogSubgraph]));
    expect(await answerOf(handler)).toBe(503);
  });

  it('answers 404 when the supergraph has no public Query field', async () => {
    const handler = await createGatewayPublicGraph(deps({}, [identitySubgraph]));
    expect(await answerOf(handler)).toBe(404);
  });
});

describe('public schema composition', () => {
  const moduleOf = (name: string, sdl: string): SubgraphModule => ({
    name,
    defaultPort: 0,
    sdl,
    typeDefs: parse(sdl),
    start: () => Promise.reject(new Error('not started')),
  });
  const link = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key", "@tag"])`;

  it('keeps tagged types and fields, drops what leads to private types, to a fixpoint', () => {
    const a = moduleOf(
      'a',
      `${link}
      scalar Secret
      scalar Stamp @tag(name: "public")
      enum Kind @tag(name: "public") { X Y }
      enum Hidden { P }
      type Thing @key(fields: "id") {
        id: ID! @tag(name: "public")
        kind: Kind! @tag(name: "public")
        at: Stamp @tag(name: "public")
        secret: Secret @tag(name: "public")
        hidden: Hidden @tag(name: "public")
        private: String
        owner: Owner @tag(name: "public")
        filtered(by: Hidden): Int @tag(name: "public")
      }
      type Owner { email: String }
      type Chain { next: Owner @tag(name: "public") }
      type Query {
        thing(id: ID!): Thing @tag(name: "public")
        chain: Chain @tag(name: "public")
        secretThing: Thing
      }
      type Mutation { doIt: Boolean }`,
    );
    const { public: sdl } = composeSupergraph([a]);
    expect(sdl).toContain('type Thing {');
    expect(sdl).toContain('kind: Kind!');
    expect(sdl).toContain('at: Stamp');
    expect(sdl).toContain('enum Kind');
    for (const gone of [
      'secret:',
      'hidden:',
      'private:',
      'owner:',
      'filtered',
      'secretThing',
      'Owner',
      'Chain',
      'chain',
      'Secret',
      'Hidden',
      'Mutation',
      'join__',
      'link__',
      '@tag',
    ]) {
      expect(sdl, gone).not.toContain(gone);
    }
  });

  it('the committed schema/public.graphql has no private fields', () => {
    const committed = readFileSync(join(projectRoot, 'schema/public.graphql'), 'utf8');
    expect(committed).toContain('trendingSongs');
    for (const hidden of ['streamUrl', 'email', 'wallets', 'ApiKey', 'type Mutation', 'type Subscription', 'me: User', 'portfolio', 'tradingAccount']) {
      expect(committed, hidden).not.toContain(hidden);
    }
  });
});
