import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, Kind, buildSchema, getIntrospectionQuery, parse, validate, type GraphQLSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientAddress,
  composeSupergraph,
  listSizeProblems,
  readCostDirectives,
  createLogger,
  createRedis,
  createTokenVerifier,
  makeErrorFormatter,
  projectRoot,
  runApolloRequest,
  startSubgraphServer,
  type BaseRequestContext,
  type Redis,
  type SubgraphModule,
} from '@vibestream/platform';
import { TEST_REDIS_URL, graphqlClient, startTestStack, type TestStack } from '@vibestream/testkit';
import { SubgraphDataSource } from '../src/data-source.ts';
import {
  DEFAULT_LIMITS,
  DEFAULT_MAX_RESPONSE_BYTES,
  analyzeOperation,
  assertWithinLimits,
  boundedStringify,
  checkLimits,
  createRequestLimiter,
  limitsPlugin,
  rateLimitedError,
  sendRateLimited,
  type OperationMeasures,
  type RequestLimiter,
} from '../src/limits/index.ts';
import { startRecordingProxy, type RecordingServer } from './recording-server.ts';

const apiSchema: GraphQLSchema = buildSchema(readFileSync(resolve(projectRoot, 'schema/api.graphql'), 'utf8'));
/** The supergraph's @listSize and @cost, which the gateway measures with (the API schema drops them). */
const directives = readCostDirectives(readFileSync(resolve(projectRoot, 'schema/supergraph.graphql'), 'utf8'));

function measure(query: string, variables?: Record<string, unknown>, operationName?: string): OperationMeasures {
  const document = parse(query);
  expect(validate(apiSchema, document)).toEqual([]);
  return analyzeOperation(apiSchema, document, operationName, variables, directives);
}

/** `a { b { c { leaf } } }` for fields [a, b, c]. */
function chain(fields: string[], leaf: string): string {
  return `${fields.map((f) => `${f} { `).join('')}${leaf}${' }'.repeat(fields.length)}`;
}
const repeat = (times: number, ...fields: string[]) => Array.from({ length: times }, () => fields).flat();

describe('operation analysis on the API schema', () => {
  it('keeps every contract operation in clients/operations well under the default limits, and the web app’s own within them', () => {
    const dir = resolve(projectRoot, 'clients/operations');
    let count = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.graphql'))) {
      // web.graphql: the web client's own screens (a list of songs with their offerings is deeper than any contract operation).
      const contract = file !== 'web.graphql';
      const document = parse(readFileSync(resolve(dir, file), 'utf8'));
      expect(validate(apiSchema, document), file).toEqual([]);
      for (const definition of document.definitions) {
        if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
        count++;
        const measures = analyzeOperation(apiSchema, document, definition.name?.value, {}, directives);
        const label = `${file} ${definition.name?.value}`;
        expect(measures.depth, label).toBeGreaterThan(0);
        if (contract) {
          expect(measures.depth, label).toBeLessThanOrEqual(DEFAULT_LIMITS.maxDepth / 2);
          expect(measures.aliases, label).toBeLessThanOrEqual(DEFAULT_LIMITS.maxAliases / 3);
          expect(measures.cost, label).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost / 10);
        }
        expect(checkLimits(measures, DEFAULT_LIMITS), label).toEqual([]);
      }
    }
    expect(count).toBeGreaterThan(20);
  });

  it('measures depth as nested fields, leaves and expanded fragments included', () => {
    expect(measure('{ __typename }').depth).toBe(1);
    expect(measure('{ me { id } }').depth).toBe(2);
    expect(measure('{ song(id: "1") { artist { user { playlists { edges { node { name } } } } } } }').depth).toBe(7);
    const viaFragments = measure(`
      query { song(id: "1") { ...S } }
      fragment S on Song { artist { ...A } }
      fragment A on Artist { user { ... on User { playlists { edges { node { name } } } } } }
    `);
    expect(viaFragments.depth).toBe(7);
  });

  it('counts introspection fields for depth, but not the ofType chain', () => {
    expect(measure('{ __schema { queryType { name } } }').depth).toBe(3);
    expect(measure('{ __type(name: "Song") { fields { type { ofType { ofType { name } } } } } }').depth).toBe(4);
    const standard = measure(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }));
    expect(checkLimits(standard, DEFAULT_LIMITS)).toEqual([]);
    // The nested-introspection attack: each `fields` level multiplies the work. graphql-js's own
    // MaxIntrospectionDepthRule refuses these at validation already; the cost model agrees.
    const unvalidated = (query: string) => analyzeOperation(apiSchema, parse(query));
    const abuse = unvalidated(`{ __schema { types { ${chain(repeat(3, 'fields', 'type'), 'fields { name }')} } } }`);
    expect(abuse.depth).toBe(10);
    expect(checkLimits(abuse, DEFAULT_LIMITS).map((v) => v.limit)).toEqual(['cost']);
    const deep = unvalidated(`{ __type(name: "Song") { ${chain(repeat(5, 'fields', 'type'), 'fields { name }')} } }`);
    expect(deep.depth).toBe(13);
    expect(checkLimits(deep, DEFAULT_LIMITS).map((v) => v.limit)).toContain('depth');
  });

  it('counts aliases, fragments expanded', () => {
    expect(measure('{ a: song(id: "1") { t: title } b: song(id: "2") { title } }').aliases).toBe(3);
    expect(measure('{ song: song(id: "1") { title } }').aliases).toBe(0);
    const spread = measure(`
      query { a: song(id: "1") { ...F } b: song(id: "2") { ...F } }
      fragment F on Song { x: title y: genre z: artist { n: name } }
    `);
    expect(spread.aliases).toBe(2 + 2 * 4);
  });

  it('every list field of the graph has a declared size: a capped first, or a maximum its subgraph enforces', () => {
    expect(listSizeProblems(apiSchema, directives)).toEqual([]);
  });

  it('costs objects 1, leaves 0, and multiplies lists by their declared size', () => {
    expect(measure('{ __typename }').cost).toBe(0);
    expect(measure('{ song(id: "1") { title artist { name } } }').cost).toBe(2);
    expect(measure('{ trendingSongs(first: 20) { title artist { name } } }').cost).toBe(40);
    // The slicing argument's default (20) when it is left out; an album's assumed size (100, which catalog enforces).
    expect(measure('{ trendingSongs { title artist { name } } }').cost).toBe(40);
    expect(measure('{ album(id: "1") { songs { title } } }').cost).toBe(1 + 100);
    // Finding 4 of issue 13: an album's songs nested in their album, three deep (it was 1,221 with lists guessed at 10).
    expect(measure('{ album(id: "1") { songs { album { songs { album { songs { id } } } } } } }').cost).toBe(1 + 100 * (2 + 100 * (2 + 100)));
    // A connection's size applies to its edges, not to totalCount and pageInfo.
    expect(measure('{ searchSongs(query: "a", first: 20) { totalCount edges { node { title artist { name } } } pageInfo { hasNextPage } } }').cost).toBe(
      1 + 20 * 3 + 1,
    );
    expect(measure('{ orderBook(songId: "1", depth: 5) { bids { priceCents } asks { priceCents } } }').cost).toBe(1 + 5 + 5);
    // Nested lists compound.
    expect(measure('{ trendingSongs(first: 100) { artist { songs(first: 50) { edges { node { title } } } } } }').cost).toBe(100 * (1 + 1 + 1 + 50 * 2));
  });

  it('reads sizes from variables, their defaults, and the schema default when null', () => {
    const query = 'query Q($n: Int = 7) { trendingSongs(first: $n) { artist { name } } }';
    expect(measure(query, { n: 300 }).cost).toBe(600);
    expect(measure(query, {}).cost).toBe(14);
    expect(measure('query Q($n: Int) { trendingSongs(first: $n) { artist { name } } }', { n: null }).cost).toBe(40);
    expect(measure('query Q($n: Int) { trendingSongs(first: $n) { artist { name } } }', { n: -5 }).cost).toBe(0);
  });

  it('measures the named operation of a document with several', () => {
    const doc = 'query Cheap { me { id } } query Dear { trendingSongs(first: 1000) { artist { name } } }';
    expect(measure(doc, {}, 'Cheap').cost).toBe(1);
    expect(measure(doc, {}, 'Dear').cost).toBe(2000);
    expect(analyzeOperation(apiSchema, parse(doc), 'Missing')).toEqual({ depth: 0, aliases: 0, cost: 0 });
  });

  it('checkLimits names each limit broken, and 0 turns a limit off', () => {
    const measures = { depth: 13, aliases: 31, cost: 5001 };
    const violations = checkLimits(measures, DEFAULT_LIMITS);
    expect(violations.map((v) => [v.limit, v.max, v.actual])).toEqual([
      ['depth', 12, 13],
      ['aliases', 30, 31],
      ['cost', 5000, 5001],
    ]);
    expect(violations[0]!.message).toMatch(/depth.*13.*12/);
    expect(violations[1]!.message).toMatch(/alias.*31.*30/);
    expect(violations[2]!.message).toMatch(/cost.*5001.*5000/);
    expect(checkLimits(measures, { maxDepth: 0, maxAliases: 0, maxCost: 0 })).toEqual([]);
    expect(checkLimits({ depth: 12, aliases: 30, cost: 5000 }, DEFAULT_LIMITS)).toEqual([]);
  });

  it('assertWithinLimits (the WebSocket path) throws BAD_USER_INPUT naming the limit', () => {
    const deep = parse(`subscription { tradeExecuted(songId: "1") { ${chain(['song', 'artist', ...repeat(5, 'user', 'artistProfile')], 'id')} } }`);
    expect(validate(apiSchema, deep)).toEqual([]);
    let thrown: unknown;
    try {
      assertWithinLimits(apiSchema, deep, undefined, {}, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GraphQLError);
    expect((thrown as GraphQLError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'depth', max: 12 });
    expect((thrown as GraphQLError).message).toMatch(/depth/);
    const ok = parse('subscription { tradeExecuted(songId: "1") { priceCents song { title } } }');
    expect(assertWithinLimits(apiSchema, ok, undefined, {}, {})).toEqual({ depth: 3, aliases: 0, cost: 2 });
    expect(() => assertWithinLimits(apiSchema, ok, undefined, {}, { maxCost: 1 })).toThrow(/cost/);
  });
});

describe('cost directives (@listSize, @cost) as Apollo Router reads them', () => {
  const sdl = `
    directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
    directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT | SCALAR | ENUM
    type Query {
      shelf: Shelf
      books(first: Int = 5, last: Int): [Book!]! @listSize(slicingArguments: ["first", "last"], requireOneSlicingArgument: false)
      page(first: Int = 10): BookPage! @listSize(slicingArguments: ["first"], sizedFields: ["items"])
      otherPage: BookPage! @listSize(assumedSize: 6, sizedFields: ["items"])
      expensive: Book @cost(weight: 50)
      guessed(limit: Int = 7): [Book!]!
    }
    type Shelf { books: [Book!]! @listSize(assumedSize: 3) }
    type BookPage { total: Int! items: [Book!]! related: [Book!]! @listSize(assumedSize: 2) }
    type Book { title: String! price: Price! tags: [String!]! @listSize(assumedSize: 4) @cost(weight: 1) }
    type Price @cost(weight: 5) { cents: Int! }
  `;
  const schema = buildSchema(sdl);
  const probeDirectives = readCostDirectives(sdl);
  const cost = (query: string, variables?: Record<string, unknown>) => {
    const document = parse(query);
    expect(validate(schema, document)).toEqual([]);
    return analyzeOperation(schema, document, undefined, variables, probeDirectives).cost;
  };

  it('sizes a list by its assumedSize, else by the largest slicing argument given, defaulted or in a variable', () => {
    expect(cost('{ shelf { books { title } } }')).toBe(1 + 3);
    expect(cost('{ books { title } }')).toBe(5);
    expect(cost('{ books(first: 2, last: 9) { title } }')).toBe(9);
    expect(cost('query($n: Int) { books(first: $n) { title } }', { n: 30 })).toBe(30);
  });

  it('with sizedFields, sizes only the named lists inside the field; the others keep their own size', () => {
    expect(cost('{ page(first: 4) { total items { title } related { title } } }')).toBe(1 + 4 + 2);
    expect(cost('{ otherPage { items { title } } }')).toBe(1 + 6);
  });

  it('weighs what @cost marks, on the field or on its type, leaves included', () => {
    expect(cost('{ expensive { title } }')).toBe(50);
    expect(cost('{ shelf { books { price { cents } } } }')).toBe(1 + 3 * (1 + 5));
    expect(cost('{ shelf { books { tags } } }')).toBe(1 + 3 * (1 + 4));
  });

  it('guesses only for a list without @listSize, and listSizeProblems names it and every directive that names what is not there', () => {
    expect(cost('{ guessed { title } }')).toBe(7);
    const broken = buildSchema(`${sdl} extend type Query { bad(first: Int): [Book!]! @listSize(slicingArguments: ["fist"]) leaky: BookPage! }`);
    const brokenDirectives = readCostDirectives(
      `${sdl} extend type Query { bad(first: Int): [Book!]! @listSize(slicingArguments: ["fist"]) leaky: BookPage! }`,
    );
    expect(listSizeProblems(broken, brokenDirectives)).toEqual([
      'Query.bad: @listSize names the slicing argument "fist", which the field does not have',
      'Query.bad: @listSize gives no assumedSize and no slicing argument that always has a value',
      expect.stringMatching(/^Query\.guessed: a list with no size/),
      'BookPage.items: no size through Query.leaky (add it to their @listSize(sizedFields))',
    ]);
    expect(listSizeProblems(buildSchema(sdl), probeDirectives)).toEqual([expect.stringMatching(/^Query\.guessed: a list with no size/)]);
  });
});

describe('response size ceiling (boundedStringify)', () => {
  it('passes an answer within the ceiling as its JSON, and answers one over it with a single error naming both sizes', () => {
    const refused: number[] = [];
    const stringify = boundedStringify(100, (bytes) => refused.push(bytes));
    const small = { data: { song: { title: 'short' } } };
    expect(stringify(small)).toBe(JSON.stringify(small));
    const large = { data: { songs: Array.from({ length: 20 }, (_, i) => ({ title: `song ${i}` })) } };
    const answer = JSON.parse(stringify(large)) as { data?: unknown; errors: { message: string; extensions: Record<string, unknown> }[] };
    const bytes = Buffer.byteLength(JSON.stringify(large));
    expect(answer.data).toBeUndefined();
    expect(answer.errors).toEqual([
      {
        message: expect.stringMatching(/Response size limit exceeded.*\d+ bytes.*100/),
        extensions: { code: 'BAD_USER_INPUT', limit: 'responseBytes', max: 100, actual: bytes },
      },
    ]);
    expect(refused).toEqual([bytes]);
    // Counted in bytes, not characters; 0 turns the ceiling off.
    expect(JSON.parse(boundedStringify(30)({ data: { t: 'ééééééééééé' } })).errors).toHaveLength(1);
    expect(boundedStringify(0)(large)).toBe(JSON.stringify(large));
    expect(DEFAULT_MAX_RESPONSE_BYTES).toBe(1_048_576);
  });
});

/** A probe subgraph with self-nesting lists, so depth, alias and cost limits are easy to cross. */
const probeSdl = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])
type Item { id: ID!, name: String!, children(first: Int = 3): [Item!]! }
type Query {
  item: Item!
  items(first: Int = 10): [Item!]!
}
`;

const makeItems = (n: number, prefix: string) => Array.from({ length: Math.min(n, 5) }, (_, i) => ({ id: `${prefix}${i}`, name: `item ${prefix}${i}` }));

const probeSubgraph: SubgraphModule = {
  name: 'probe',
  defaultPort: 4098,
  sdl: probeSdl,
  typeDefs: parse(probeSdl),
  async start(options) {
    const verifier = await createTokenVerifier({ publicKeyPem: options.env.JWT_PUBLIC_KEY, issuer: 'vibestream-identity', audience: 'vibestream' });
    const server = await startSubgraphServer<BaseRequestContext>({
      name: 'probe',
      port: options.port ?? 0,
      typeDefs: parse(probeSdl),
      verifier,
      log: options.log ?? createLogger('probe', 'silent'),
      introspection: true,
      context: (base) => base,
      resolvers: {
        Query: {
          item: () => ({ id: 'root', name: 'root' }),
          items: (_: unknown, { first }: { first: number }) => makeItems(first, 'i'),
        },
        Item: {
          children: (parent: { id: string }, { first }: { first: number }) => makeItems(first, `${parent.id}.`),
        },
      },
    });
    return { name: 'probe', url: server.url, port: server.port, stop: server.stop };
  },
};

interface LimitedGateway {
  url: string;
  stop(): Promise<void>;
}

/**
 * A gateway assembled the way gateway.ts does it (ApolloGateway + SubgraphDataSource + the
 * error formatter) with the limits plugin, and the per-request rate-limit check in front of
 * Apollo. The test-only `x-test-user` header stands in for the verified principal.
 */
async function startLimitedGateway(supergraphSdl: string, limiter: RequestLimiter): Promise<LimitedGateway> {
  const apollo = new ApolloServer({
    gateway: new ApolloGateway({ supergraphSdl, buildService: ({ name, url }) => new SubgraphDataSource(name, url!, 5_000) }),
    includeStacktraceInErrorResponses: false,
    formatError: makeErrorFormatter(() => undefined),
    plugins: [ApolloServerPluginUsageReportingDisabled(), limitsPlugin({ maxDepth: 12, maxAliases: 30, maxCost: 5000 })],
  });
  await apollo.start();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const user = req.headers['x-test-user'];
      const verdict = await limiter.check({ userId: typeof user === 'string' ? user : null, address: clientAddress(req) });
      if (!verdict.allowed) return sendRateLimited(res, verdict.retryAfterSeconds);
      await runApolloRequest(apollo, req, res, async () => ({}));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    stop: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await apollo.stop();
    },
  };
}

describe('limits at the gateway, end to end', () => {
  let stack: TestStack;
  let proxy: RecordingServer;
  let gateway: LimitedGateway;
  let gql: ReturnType<typeof graphqlClient>;

  beforeAll(async () => {
    stack = await startTestStack('limits', [probeSubgraph]);
    proxy = await startRecordingProxy(stack.subgraphs.get('probe')!.url);
    const { supergraph } = composeSupergraph([probeSubgraph], () => proxy.url);
    const limiter = createRequestLimiter({ redis: null, prefix: 'test:', perUser: { limit: 3, windowSeconds: 60 } });
    gateway = await startLimitedGateway(supergraph, limiter);
    gql = graphqlClient(gateway.url);
  });
  afterAll(async () => {
    await gateway?.stop();
    await proxy?.stop();
    await stack?.stop();
  });

  it('answers a query within the limits from the subgraph', async () => {
    proxy.reset();
    const res = await gql('{ item { id children(first: 2) { name } } }');
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ item: { id: 'root', children: [{ name: 'item root.0' }, { name: 'item root.1' }] } });
    expect(proxy.count()).toBe(1);
  });

  const overLimit = [
    { limit: 'depth', query: `{ item { ${chain(repeat(11, 'children(first: 1)'), 'id')} } }`, message: /depth.*13.*12/ },
    { limit: 'aliases', query: `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: item { id }`).join(' ')} }`, message: /alias.*31.*30/ },
    { limit: 'cost', query: '{ items(first: 100) { children(first: 100) { id } } }', message: /cost.*10100.*5000/ },
  ] as const;

  for (const { limit, query, message } of overLimit) {
    it(`refuses a query over the ${limit} limit before any subgraph is called`, async () => {
      proxy.reset();
      const res = await gql(query);
      expect(res.status).toBe(400);
      expect(res.data).toBeUndefined();
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', limit, max: expect.any(Number), actual: expect.any(Number) });
      expect(res.errors![0]!.message).toMatch(message);
      expect(proxy.count()).toBe(0);
    });
  }

  it('takes sizes from variables: the same document is refused or served by its variables', async () => {
    const query = 'query Items($n: Int!) { items(first: $n) { children(first: $n) { id } } }';
    proxy.reset();
    const refused = await gql(query, { n: 80 });
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost', actual: 80 * 81 });
    expect(proxy.count()).toBe(0);
    const served = await gql(query, { n: 2 });
    expect(served.errors).toBeUndefined();
    expect(proxy.count()).toBe(1);
  });

  it('rate-limits per user with 429, Retry-After and RATE_LIMITED', async () => {
    const user = `u-${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 3; i++) expect((await gql('{ item { id } }', {}, { headers: { 'x-test-user': user } })).errors).toBeUndefined();
    proxy.reset();
    const res = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-test-user': user },
      body: JSON.stringify({ query: '{ item { id } }' }),
    });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = (await res.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: retryAfter });
    expect(body.errors[0]!.message).toMatch(/try again in \d+ seconds?/);
    expect(proxy.count()).toBe(0);
    // Another user is unaffected.
    expect((await gql('{ item { id } }', {}, { headers: { 'x-test-user': `${user}-other` } })).errors).toBeUndefined();
  });

  it('rateLimitedError({ http: true }) thrown in Apollo Server answers 429 with Retry-After', async () => {
    const apollo = new ApolloServer({
      typeDefs: 'type Query { x: Int }',
      formatError: makeErrorFormatter(() => undefined),
      plugins: [
        ApolloServerPluginUsageReportingDisabled(),
        {
          async requestDidStart() {
            return {
              async didResolveOperation() {
                throw rateLimitedError(7.2, { http: true });
              },
            };
          },
        },
      ],
    });
    await apollo.start();
    try {
      const res = await apollo.executeOperation({ query: '{ x }' });
      expect(res.http.status).toBe(429);
      expect(res.http.headers.get('retry-after')).toBe('8');
      expect(res.body.kind === 'single' && res.body.singleResult.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 8 });
    } finally {
      await apollo.stop();
    }
    expect(rateLimitedError(3).extensions).toEqual({ code: 'RATE_LIMITED', retryAfterSeconds: 3 });
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([
  ['Redis', true],
  ['memory', false],
] as const)('request limiter (%s)', (_label, useRedis) => {
  let redis: Redis | null = null;
  const prefix = `test:limits:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    if (!useRedis) return;
    redis = createRedis(TEST_REDIS_URL);
    await redis.ping();
  });
  afterAll(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const limiterWith = (options: Omit<Parameters<typeof createRequestLimiter>[0], 'redis' | 'prefix'>) =>
    createRequestLimiter({ redis, prefix: `${prefix}${randomBytes(3).toString('hex')}:`, ...options });

  it('allows up to the limit, then refuses with retryAfterSeconds', async () => {
    const limiter = limiterWith({ perUser: { limit: 3, windowSeconds: 30 } });
    for (let i = 0; i < 3; i++) expect(await limiter.check({ userId: 'u1', address: '10.0.0.1' })).toEqual({ allowed: true });
    const refused = await limiter.check({ userId: 'u1', address: '10.0.0.1' });
    expect(refused).toMatchObject({ allowed: false, scope: 'user' });
    expect(refused.allowed === false && refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.allowed === false && refused.retryAfterSeconds).toBeLessThanOrEqual(30);
  });

  it('keeps users and addresses independent', async () => {
    const limiter = limiterWith({ perUser: { limit: 2, windowSeconds: 30 }, perAddress: { limit: 4, windowSeconds: 30 } });
    for (let i = 0; i < 2; i++) expect((await limiter.check({ userId: 'a', address: '10.0.0.1' })).allowed).toBe(true);
    expect(await limiter.check({ userId: 'a', address: '10.0.0.1' })).toMatchObject({ allowed: false, scope: 'user' });
    // Another user from the same address still passes until the address's own limit.
    expect((await limiter.check({ userId: 'b', address: '10.0.0.1' })).allowed).toBe(true);
    expect(await limiter.check({ userId: 'c', address: '10.0.0.1' })).toMatchObject({ allowed: false, scope: 'address' });
    // Another address, and the refused user elsewhere is still refused.
    expect((await limiter.check({ userId: 'b', address: '10.0.0.2' })).allowed).toBe(true);
    expect((await limiter.check({ userId: null, address: '10.0.0.3' })).allowed).toBe(true);
    expect((await limiter.check({ userId: 'a', address: '10.0.0.4' })).allowed).toBe(false);
  });

  it('counts concurrent requests exactly (atomic)', async () => {
    const limiter = limiterWith({ perAddress: { limit: 10, windowSeconds: 30 } });
    const verdicts = await Promise.all(Array.from({ length: 40 }, () => limiter.check({ address: '10.9.9.9' })));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(10);
  });

  it('opens a new window when the old one expires', async () => {
    const limiter = limiterWith({ perUser: { limit: 2, windowSeconds: 1 }, perAddress: { limit: 2, windowSeconds: 1 } });
    expect((await limiter.check({ userId: 'w', address: '10.1.1.1' })).allowed).toBe(true);
    expect((await limiter.check({ userId: 'w', address: '10.1.1.1' })).allowed).toBe(true);
    const refused = await limiter.check({ userId: 'w', address: '10.1.1.1' });
    expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    await sleep(1_100);
    expect((await limiter.check({ userId: 'w', address: '10.1.1.1' })).allowed).toBe(true);
  });

  it('does nothing for a limit of 0 or an identity it does not limit', async () => {
    const limiter = limiterWith({ perUser: { limit: 0, windowSeconds: 30 }, perAddress: null });
    for (let i = 0; i < 5; i++) expect((await limiter.check({ userId: 'z', address: '10.2.2.2' })).allowed).toBe(true);
  });

  if (useRedis) {
    it('stores counters with an expiry under the prefix', async () => {
      const keyPrefix = `${prefix}ttl:`;
      const limiter = createRequestLimiter({ redis, prefix: keyPrefix, perUser: { limit: 5, windowSeconds: 20 } });
      await limiter.check({ userId: 'ttl-user' });
      const key = `${keyPrefix}ratelimit:req:user:ttl-user`;
      expect(await redis!.get(key)).toBe('1');
      const ttl = await redis!.pttl(key);
      expect(ttl).toBeGreaterThan(15_000);
      expect(ttl).toBeLessThanOrEqual(20_000);
    });

    it('allows requests (fails open) and reports the error when Redis is unreachable', async () => {
      const down = createRedis('redis://127.0.0.1:9', { lazyConnect: true, maxRetriesPerRequest: 0 });
      const errors: unknown[] = [];
      const limiter = createRequestLimiter({ redis: down, prefix, perUser: { limit: 1, windowSeconds: 30 }, onError: (e) => errors.push(e) });
      try {
        expect(await limiter.check({ userId: 'x' })).toEqual({ allowed: true });
        expect(await limiter.check({ userId: 'x' })).toEqual({ allowed: true });
        expect(errors).toHaveLength(2);
      } finally {
        down.disconnect();
      }
    });
  }
});
