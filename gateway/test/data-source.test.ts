import { randomUUID } from 'node:crypto';
import { composeServices } from '@apollo/composition';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  createTokenVerifier,
  forbidden,
  generateSigningKeys,
  startSubgraphServer,
  type BaseRequestContext,
  type RunningServer,
  type SigningKeys,
} from '@vibestream/platform';
import { mintToken } from '@vibestream/testkit';
import type { GatewayContext } from '../src/context.ts';
import { SubgraphDataSource, type SubgraphDataSourceOptions } from '../src/data-source.ts';
import { startGateway, type RunningGateway } from '../src/index.ts';
import { startRecordingProxy, startRecordingServer, type RecordedRequest, type RecordingServer, type Reply } from './recording-server.ts';

// ---------------------------------------------------------------------------------------------
// SubgraphDataSource against a plain node:http subgraph that records every request
// ---------------------------------------------------------------------------------------------

interface Call {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  /** Bearer token; null for an anonymous caller. */
  token?: string | null;
  clientAddress?: string;
  requestId?: string;
  /** Pass the parsed operation as `document`, as the planner does with exposeDocumentNodeInFetchNode. */
  withDocument?: boolean;
}

function call(source: SubgraphDataSource, c: Call): Promise<GatewayGraphQLResponse> {
  const token = c.token === undefined ? 'token-a' : c.token;
  const context: GatewayContext = {
    requestId: c.requestId ?? randomUUID(),
    principal: null,
    authorization: token === null ? null : `Bearer ${token}`,
    clientAddress: c.clientAddress ?? '10.0.0.1',
  };
  // What the gateway's executeQueryPlan passes (its request-kind enum is not exported).
  const options = {
    kind: 'incoming operation',
    request: { query: c.query, variables: c.variables ?? {}, operationName: c.operationName },
    context,
    incomingRequestContext: {},
    ...(c.withDocument ? { document: parse(c.query) } : {}),
  };
  return source.process(options as unknown as GraphQLDataSourceProcessOptions<GatewayContext>);
}

/** Answers with everything the subgraph's answer could depend on, so a leak between callers shows. */
function echo(request: RecordedRequest): Reply {
  return {
    delayMs: 100,
    body: {
      data: {
        echo: {
          authorization: request.headers.authorization ?? null,
          forwardedFor: request.headers['x-forwarded-for'] ?? null,
          requestId: request.headers['x-request-id'] ?? null,
          variables: request.body.variables ?? null,
          operationName: request.body.operationName ?? null,
          nested: { list: [1, 2, 3] },
        },
      },
    },
  };
}

interface Representation {
  __typename: string;
  id: string;
}

/** An `_entities` resolver: one entity per representation, `name` failing for the ids in `failing`. */
function entities(failing: string[] = [], delayMs = 50) {
  return (request: RecordedRequest): Reply => {
    const representations = (request.body.variables?.representations ?? []) as Representation[];
    const errors = representations.flatMap((r, i) =>
      failing.includes(r.id) ? [{ message: `no name for ${r.id}`, path: ['_entities', i, 'name'], extensions: { code: 'FORBIDDEN' } }] : [],
    );
    return {
      delayMs,
      body: {
        data: {
          _entities: representations.map((r) => ({
            __typename: r.__typename,
            id: r.id,
            name: failing.includes(r.id) ? null : `Artist ${r.id}`,
            info: { tags: [r.id] },
          })),
        },
        ...(errors.length ? { errors } : {}),
      },
    };
  };
}

const ECHO = 'query Echo__fake__0($id:ID){echo(id:$id){authorization forwardedFor requestId variables operationName nested{list}}}';
const ENTITIES = 'query Feed__fake__1($representations:[_Any!]!){_entities(representations:$representations){...on Artist{id name info{tags}}}}';
const rep = (id: string): Representation => ({ __typename: 'Artist', id });

type Echo = { echo: { authorization: string | null; forwardedFor: string | null; requestId: string | null; variables: unknown; nested: { list: number[] } } };
const echoOf = (response: GatewayGraphQLResponse) => (response.data as Echo).echo;
const entitiesOf = (response: GatewayGraphQLResponse) => (response.data as { _entities: Record<string, unknown>[] })._entities;
const representationsSent = (request: RecordedRequest | undefined) => request?.body.variables?.representations as Representation[];

let fake: RecordingServer;
let source: SubgraphDataSource;
const dataSource = (options?: SubgraphDataSourceOptions, timeoutMs = 5_000, url = fake.url) => new SubgraphDataSource('fake', url, timeoutMs, options);

beforeAll(async () => {
  fake = await startRecordingServer(echo);
});
afterAll(async () => fake?.stop());
beforeEach(() => {
  fake.reset();
  fake.respond(echo);
  source = dataSource();
});

describe('SubgraphDataSource: identical queries in flight', () => {
  it('sends concurrent identical queries with the same token once; every caller gets an equal but distinct answer', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => call(source, { query: ECHO, variables: { id: '1' }, requestId: `req-${i}` })));
    expect(fake.count()).toBe(1);
    // The merged fetch carries the first caller's request id, token and address.
    expect(fake.requests[0]!.headers).toMatchObject({ authorization: 'Bearer token-a', 'x-forwarded-for': '10.0.0.1', 'x-request-id': 'req-0' });
    for (const answer of answers.slice(1)) {
      expect(answer).toEqual(answers[0]);
      expect(answer).not.toBe(answers[0]);
      expect(answer.data).not.toBe(answers[0]!.data);
      expect(echoOf(answer).nested).not.toBe(echoOf(answers[0]!).nested);
    }
    // Mutating one caller's answer leaves the others alone (the gateway merges into them in place).
    echoOf(answers[0]!).authorization = 'changed';
    echoOf(answers[0]!).nested.list.push(4);
    (answers[0]!.data as Record<string, unknown>).extra = true;
    for (const answer of answers.slice(1)) {
      expect(echoOf(answer).authorization).toBe('Bearer token-a');
      expect(echoOf(answer).nested.list).toEqual([1, 2, 3]);
      expect(answer.data).not.toHaveProperty('extra');
    }
  });

  it('merges a caller that asks while the first fetch is still under way', async () => {
    const first = call(source, { query: ECHO, variables: { id: '1' } });
    await new Promise((r) => setTimeout(r, 40));
    const second = call(source, { query: ECHO, variables: { id: '1' } });
    const [a, b] = await Promise.all([first, second]);
    expect(fake.count()).toBe(1);
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
  });

  it('merges queries passed with their parsed document too', async () => {
    await Promise.all([1, 2, 3].map(() => call(source, { query: ECHO, variables: { id: '1' }, withDocument: true })));
    expect(fake.count()).toBe(1);
  });

  it('never merges different tokens, variables, client addresses or an anonymous caller with a signed-in one', async () => {
    const calls: Call[] = [
      { query: ECHO, variables: { id: '1' }, token: 'token-a' },
      { query: ECHO, variables: { id: '1' }, token: 'token-b' },
      { query: ECHO, variables: { id: '1' }, token: null },
      { query: ECHO, variables: { id: '2' }, token: 'token-a' },
      { query: ECHO, variables: { id: '1' }, token: 'token-a', clientAddress: '10.0.0.2' },
      { query: ECHO, variables: { id: '1' }, token: 'token-a', operationName: 'Other' },
    ];
    // Every caller three times at once: the copies of one caller merge, different callers never do.
    const answers = await Promise.all(calls.flatMap((c) => [c, c, c]).map((c) => call(source, c)));
    expect(fake.count()).toBe(calls.length);
    calls.forEach((c, i) => {
      for (const answer of answers.slice(i * 3, i * 3 + 3)) {
        const seen = echoOf(answer);
        expect(seen.authorization).toBe(c.token === null ? null : `Bearer ${c.token}`);
        expect(seen.forwardedFor).toBe(c.clientAddress ?? '10.0.0.1');
        expect(seen.variables).toEqual(c.variables);
      }
    });
    const sent = fake.requests.map((r) => JSON.stringify([r.headers.authorization, r.headers['x-forwarded-for'], r.body]));
    expect(new Set(sent).size).toBe(calls.length);
  });

  it('never merges mutations, however they are written', async () => {
    const like = { data: { like: true } };
    fake.respond(() => ({ delayMs: 100, body: like }));
    const mutations: Call[] = [
      { query: 'mutation Like__fake__0{like}' },
      { query: 'mutation Like__fake__0{like}', withDocument: true },
      { query: '\n  mutation Like__fake__0 { like }' },
      { query: '# a comment\nmutation Like__fake__0{like}' },
      // A document with a query and a mutation, the mutation chosen by name.
      { query: 'query Peek__fake__0{likes} mutation Like__fake__0{like}', operationName: 'Like__fake__0' },
      { query: 'query Peek__fake__0{likes} mutation Like__fake__0{like}', operationName: 'Like__fake__0', withDocument: true },
    ];
    for (const mutation of mutations) {
      fake.reset();
      const answers = await Promise.all([1, 2, 3].map(() => call(source, mutation)));
      expect(fake.count(), mutation.query).toBe(3);
      for (const answer of answers) expect(answer).toEqual(like);
    }
  });

  it('still merges a query that merely mentions the words mutation or subscription', async () => {
    const query = 'query Log__fake__0($kind:String="mutation"){mutationLog(kind:"mutation"){subscription mutation}}';
    await Promise.all([1, 2, 3].map(() => call(source, { query })));
    expect(fake.count()).toBe(1);
  });

  it('sends sequential identical queries each time', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await call(source, { query: ECHO, variables: { id: '1' }, requestId: `seq-${i}` });
      expect(echoOf(answer).requestId).toBe(`seq-${i}`);
    }
    expect(fake.count()).toBe(3);
  });

  it('passes GraphQL errors from the subgraph to every merged caller as their own copies', async () => {
    const failure = { data: null, errors: [{ message: 'nope', path: ['echo'], extensions: { code: 'FORBIDDEN' } }] };
    fake.respond(() => ({ delayMs: 100, status: 200, body: failure }));
    const answers = await Promise.all([1, 2, 3].map(() => call(source, { query: ECHO })));
    expect(fake.count()).toBe(1);
    for (const answer of answers) expect(answer).toEqual(failure);
    expect(answers[1]!.errors).not.toBe(answers[0]!.errors);
    expect(answers[1]!.errors![0]).not.toBe(answers[0]!.errors![0]);
  });

  it('a non-JSON answer reaches every merged caller as an error, and the next query is sent fresh', async () => {
    fake.respond(() => ({ delayMs: 100, status: 502, text: '<html>Bad gateway</html>' }));
    const results = await Promise.allSettled([1, 2, 3].map(() => call(source, { query: ECHO })));
    expect(fake.count()).toBe(1);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/Subgraph fake answered HTTP 502 without a GraphQL response/);
    }
    fake.respond(echo);
    const next = await call(source, { query: ECHO });
    expect(fake.count()).toBe(2);
    expect(echoOf(next).authorization).toBe('Bearer token-a');
  });

  it('JSON that is not a GraphQL response is an error too', async () => {
    for (const body of [{ message: 'hello' }, null, [1, 2], 'text']) {
      fake.respond(() => ({ status: 200, body }));
      await expect(call(source, { query: ECHO })).rejects.toThrow(/without a GraphQL response/);
    }
  });

  it('a timeout reaches every merged caller as an error, and the next query is sent fresh', async () => {
    const quick = dataSource({}, 150);
    fake.respond(() => ({ delayMs: 1_000, body: { data: { echo: null } } }));
    const started = Date.now();
    const results = await Promise.allSettled([1, 2, 3].map(() => call(quick, { query: ECHO })));
    expect(Date.now() - started).toBeLessThan(900);
    expect(fake.count()).toBe(1);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/Subgraph fake did not answer within 150 ms/);
    }
    fake.respond(echo);
    const next = await call(quick, { query: ECHO });
    expect(fake.count()).toBe(2);
    expect(echoOf(next).authorization).toBe('Bearer token-a');
  });

  it('a connection dropped mid-answer reaches every merged caller as an error, and the next query is sent fresh', async () => {
    fake.respond(() => ({ delayMs: 50, dropAfterPartial: true }));
    const results = await Promise.allSettled([1, 2, 3].map(() => call(source, { query: ECHO })));
    expect(fake.count()).toBe(1);
    for (const result of results) expect(result.status).toBe('rejected');
    fake.respond(echo);
    await call(source, { query: ECHO });
    expect(fake.count()).toBe(2);
  });

  it('an unreachable subgraph reaches every merged caller as an error, and nothing stays in flight', async () => {
    const down = await startRecordingServer(echo);
    const url = down.url;
    await down.stop();
    const unreachable = dataSource({}, 5_000, url);
    for (let round = 0; round < 2; round++) {
      const results = await Promise.allSettled([1, 2, 3].map(() => call(unreachable, { query: ECHO })));
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'ECONNREFUSED' });
      }
    }
    expect((unreachable as unknown as { inFlight: Map<string, unknown> }).inFlight.size).toBe(0);
  });

  it('sends every query when dedupeInFlight is off', async () => {
    const plain = dataSource({ dedupeInFlight: false });
    const answers = await Promise.all([1, 2, 3, 4].map(() => call(plain, { query: ECHO, variables: { id: '1' } })));
    expect(fake.count()).toBe(4);
    for (const answer of answers) expect(echoOf(answer).variables).toEqual({ id: '1' });
  });
});

describe('SubgraphDataSource: distinct entity representations', () => {
  it('sends each distinct representation once, in first-seen order, and answers every original position with its own copy', async () => {
    fake.respond(entities());
    const asked = ['a', 'b', 'a', 'c', 'b', 'a'].map(rep);
    const answer = await call(source, { query: ENTITIES, variables: { representations: asked } });
    expect(fake.count()).toBe(1);
    expect(representationsSent(fake.requests[0])).toEqual([rep('a'), rep('b'), rep('c')]);
    const got = entitiesOf(answer);
    expect(got).toEqual(asked.map((r) => ({ __typename: 'Artist', id: r.id, name: `Artist ${r.id}`, info: { tags: [r.id] } })));
    expect(answer.errors).toBeUndefined();
    // Positions that shared a representation get distinct objects, nested ones included.
    expect(got[2]).not.toBe(got[0]);
    expect(got[5]).not.toBe(got[0]);
    expect(got[4]).not.toBe(got[1]);
    expect(got[2]!.info).not.toBe(got[0]!.info);
    (got[0]!.info as { tags: string[] }).tags.push('mutated');
    got[0]!.name = 'changed';
    expect(got[2]).toEqual({ __typename: 'Artist', id: 'a', name: 'Artist a', info: { tags: ['a'] } });
    expect(got[5]).toEqual({ __typename: 'Artist', id: 'a', name: 'Artist a', info: { tags: ['a'] } });
  });

  it('reports an error at _entities.<i> for every original position that mapped to i', async () => {
    fake.respond(entities(['b']));
    const asked = ['a', 'b', 'a', 'c', 'b', 'b'].map(rep);
    const answer = await call(source, { query: ENTITIES, variables: { representations: asked } });
    expect(representationsSent(fake.requests[0])).toEqual([rep('a'), rep('b'), rep('c')]);
    expect(entitiesOf(answer).map((e) => e.name)).toEqual(['Artist a', null, 'Artist a', 'Artist c', null, null]);
    expect(answer.errors).toEqual([1, 4, 5].map((i) => ({ message: 'no name for b', path: ['_entities', i, 'name'], extensions: { code: 'FORBIDDEN' } })));
  });

  it('fans errors out when the subgraph answers no data, and keeps errors without an entity path as they are', async () => {
    fake.respond(() => ({
      body: {
        data: null,
        errors: [
          { message: 'boom at c', path: ['_entities', 2] },
          { message: 'general failure' },
          { message: 'boom at a', path: ['_entities', 0, 'info', 'tags'] },
        ],
      },
    }));
    const asked = ['a', 'b', 'c', 'a', 'c'].map(rep);
    const answer = await call(source, { query: ENTITIES, variables: { representations: asked } });
    expect(answer.data).toBeNull();
    expect(answer.errors).toEqual([
      { message: 'boom at c', path: ['_entities', 2] },
      { message: 'boom at c', path: ['_entities', 4] },
      { message: 'general failure' },
      { message: 'boom at a', path: ['_entities', 0, 'info', 'tags'] },
      { message: 'boom at a', path: ['_entities', 3, 'info', 'tags'] },
    ]);
  });

  it('leaves an answer with the wrong number of entities for the gateway to report', async () => {
    const wrong = { data: { _entities: [{ __typename: 'Artist', id: 'a' }] } };
    fake.respond(() => ({ body: wrong }));
    const answer = await call(source, { query: ENTITIES, variables: { representations: ['a', 'b', 'a'].map(rep) } });
    expect(answer).toEqual(wrong);
  });

  it('sends all-distinct representations unchanged', async () => {
    fake.respond(entities());
    const asked = ['c', 'a', 'b'].map(rep);
    const answer = await call(source, { query: ENTITIES, variables: { representations: asked } });
    expect(representationsSent(fake.requests[0])).toEqual(asked);
    expect(entitiesOf(answer).map((e) => e.id)).toEqual(['c', 'a', 'b']);
  });

  it('merges in-flight entity fetches whose distinct representations match, each caller getting its own positions', async () => {
    fake.respond(entities(['b'], 100));
    const [first, second, otherUser] = await Promise.all([
      call(source, { query: ENTITIES, variables: { representations: ['a', 'a', 'b'].map(rep) } }),
      call(source, { query: ENTITIES, variables: { representations: ['a', 'b', 'b'].map(rep) } }),
      call(source, { query: ENTITIES, variables: { representations: ['a', 'a', 'b'].map(rep) }, token: 'token-b' }),
    ]);
    expect(fake.count()).toBe(2);
    expect(fake.requests.map(representationsSent)).toEqual([
      [rep('a'), rep('b')],
      [rep('a'), rep('b')],
    ]);
    expect(new Set(fake.requests.map((r) => r.headers.authorization))).toEqual(new Set(['Bearer token-a', 'Bearer token-b']));
    expect(entitiesOf(first).map((e) => e.id)).toEqual(['a', 'a', 'b']);
    expect(entitiesOf(second).map((e) => e.id)).toEqual(['a', 'b', 'b']);
    expect(first.errors!.map((e) => e.path)).toEqual([['_entities', 2, 'name']]);
    expect(second.errors!.map((e) => e.path)).toEqual([
      ['_entities', 1, 'name'],
      ['_entities', 2, 'name'],
    ]);
    expect(otherUser).toEqual(first);
    expect(entitiesOf(first)[0]).not.toBe(entitiesOf(second)[0]);
  });

  it("does not touch a client's list variable that happens to be called representations", async () => {
    fake.respond((request) => ({ body: { data: { count: (request.body.variables?.representations as unknown[]).length } } }));
    for (const query of [
      'query Count__fake__0($representations:[String!]!){count(items:$representations)}',
      // Even aliased as _entities, a client's field is no entity fetch.
      'query Count__fake__0($representations:[String!]!){_entities:count(items:$representations)}',
    ]) {
      fake.reset();
      const answer = await call(source, { query, variables: { representations: ['x', 'x', 'y'] } });
      expect(fake.requests[0]!.body.variables, query).toEqual({ representations: ['x', 'x', 'y'] });
      expect(answer, query).toEqual({ data: { count: 3 } });
    }
  });

  it('recognises the entity fetch as the planner writes it, named or not', async () => {
    fake.respond(entities());
    for (const query of [ENTITIES, 'query($representations:[_Any!]!){_entities(representations:$representations){...on Artist{name}}}']) {
      fake.reset();
      await call(source, { query, variables: { representations: ['a', 'a'].map(rep) } });
      expect(representationsSent(fake.requests[0]), query).toEqual([rep('a')]);
    }
  });

  it('sends every representation when dedupeRepresentations is off', async () => {
    fake.respond(entities(['b']));
    const plain = dataSource({ dedupeRepresentations: false });
    const asked = ['a', 'b', 'a', 'c', 'b', 'a'].map(rep);
    const answer = await call(plain, { query: ENTITIES, variables: { representations: asked } });
    expect(representationsSent(fake.requests[0])).toEqual(asked);
    expect(entitiesOf(answer).map((e) => e.id)).toEqual(['a', 'b', 'a', 'c', 'b', 'a']);
    expect(answer.errors!.map((e) => e.path)).toEqual([
      ['_entities', 1, 'name'],
      ['_entities', 4, 'name'],
    ]);
  });

  it('with both savings off nothing is merged', async () => {
    fake.respond(entities());
    const plain = dataSource({ dedupeInFlight: false, dedupeRepresentations: false });
    const asked = ['a', 'a', 'b'].map(rep);
    await Promise.all([1, 2, 3].map(() => call(plain, { query: ENTITIES, variables: { representations: asked } })));
    expect(fake.count()).toBe(3);
    for (const request of fake.requests) expect(representationsSent(request)).toEqual(asked);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: two real subgraphs behind startGateway, the savings on and off
// ---------------------------------------------------------------------------------------------

const federation = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])';
const feedSdl = `${federation}
type Artist @key(fields: "id", resolvable: false) { id: ID! }
type Item { id: ID!, position: Int!, artist: Artist! }
type Query {
  items(count: Int!, delayMs: Int! = 0): [Item!]!
  whoami(delayMs: Int! = 0): String
  countItems(items: [String!]!): Int!
}
`;
const artistsSdl = `${federation}
type Artist @key(fields: "id") { id: ID!, name: String!, tags: [String!]!, secret: String }
`;

describe('end to end through startGateway', () => {
  let keys: SigningKeys;
  let feed: RunningServer;
  let artists: RunningServer;
  let feedProxy: RecordingServer;
  let artistsProxy: RecordingServer;
  let savingsOn: RunningGateway;
  let savingsOff: RunningGateway;
  let resolvedReferences = 0;

  beforeAll(async () => {
    keys = generateSigningKeys();
    const log = createLogger('data-source-test', 'silent');
    const verifier = await createTokenVerifier({ publicKeyPem: keys.publicKeyPem, issuer: 'vibestream-identity', audience: 'vibestream' });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    feed = await startSubgraphServer<BaseRequestContext>({
      name: 'feed',
      port: 0,
      host: '127.0.0.1',
      typeDefs: parse(feedSdl),
      verifier,
      log,
      introspection: true,
      context: (base) => base,
      resolvers: {
        Query: {
          items: async (_: unknown, { count, delayMs }: { count: number; delayMs: number }) => {
            if (delayMs) await sleep(delayMs);
            return Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, position: i, artist: { id: `artist-${i % 3}` } }));
          },
          whoami: async (_: unknown, { delayMs }: { delayMs: number }, ctx: BaseRequestContext) => {
            if (delayMs) await sleep(delayMs);
            return ctx.principal?.userId ?? null;
          },
          countItems: (_: unknown, { items }: { items: string[] }) => items.length,
        },
      },
    });
    artists = await startSubgraphServer<BaseRequestContext>({
      name: 'artists',
      port: 0,
      host: '127.0.0.1',
      typeDefs: parse(artistsSdl),
      verifier,
      log,
      introspection: true,
      context: (base) => base,
      resolvers: {
        Artist: {
          __resolveReference: (reference: { id: string }) => {
            resolvedReferences++;
            return { id: reference.id, name: `Artist ${reference.id}`, tags: [reference.id, 'music'] };
          },
          secret: (artist: { id: string }) => {
            if (artist.id === 'artist-1') throw forbidden(`no secret of ${artist.id}`);
            return `secret of ${artist.id}`;
          },
        },
      },
    });
    feedProxy = await startRecordingProxy(feed.url);
    artistsProxy = await startRecordingProxy(artists.url);
    const composed = composeServices([
      { name: 'feed', url: feedProxy.url, typeDefs: parse(feedSdl) },
      { name: 'artists', url: artistsProxy.url, typeDefs: parse(artistsSdl) },
    ]);
    if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
    const env = { NODE_ENV: 'test', LOG_LEVEL: 'silent', HOST: '127.0.0.1', JWT_PUBLIC_KEY: keys.publicKeyPem };
    savingsOn = await startGateway({ env, supergraphSdl: composed.supergraphSdl, port: 0, log });
    savingsOff = await startGateway({
      env,
      supergraphSdl: composed.supergraphSdl,
      port: 0,
      log,
      subgraphFetch: { dedupeInFlight: false, dedupeRepresentations: false },
    });
  });
  afterAll(async () => {
    await savingsOn?.stop();
    await savingsOff?.stop();
    await feedProxy?.stop();
    await artistsProxy?.stop();
    await feed?.stop();
    await artists?.stop();
  });
  beforeEach(() => {
    feedProxy.reset();
    artistsProxy.reset();
    resolvedReferences = 0;
  });

  async function gql(gateway: RunningGateway, query: string, variables: Record<string, unknown> = {}, token?: string) {
    const res = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; path?: (string | number)[] }[] };
  }

  const ITEMS = '{ items(count: 50) { id position artist { id name tags secret } } }';

  it('gives the same answer with the savings on and off; the second subgraph gets 3 representations instead of 50', async () => {
    const on = await gql(savingsOn, ITEMS);
    expect(artistsProxy.count()).toBe(1);
    expect(representationsSent(artistsProxy.requests[0])).toEqual(['artist-0', 'artist-1', 'artist-2'].map((id) => ({ __typename: 'Artist', id })));
    expect(resolvedReferences).toBe(3);

    artistsProxy.reset();
    resolvedReferences = 0;
    const off = await gql(savingsOff, ITEMS);
    expect(artistsProxy.count()).toBe(1);
    expect(representationsSent(artistsProxy.requests[0])).toHaveLength(50);
    expect(resolvedReferences).toBe(50);

    expect(on).toEqual(off);
    const items = (on.data as { items: { id: string; position: number; artist: { id: string; name: string; tags: string[]; secret: string | null } }[] }).items;
    expect(items).toHaveLength(50);
    items.forEach((item, i) => {
      const id = `artist-${i % 3}`;
      expect(item).toEqual({
        id: `item-${i}`,
        position: i,
        artist: { id, name: `Artist ${id}`, tags: [id, 'music'], secret: i % 3 === 1 ? null : `secret of ${id}` },
      });
    });
    // The error of the one shared representation is reported at every item that references it.
    const errorPaths = on.errors!.map((e) => e.path);
    const expected = items.filter((_, i) => i % 3 === 1).map((item) => ['items', item.position, 'artist', 'secret']);
    expect(errorPaths).toHaveLength(expected.length);
    expect(errorPaths).toEqual(expect.arrayContaining(expected));
    for (const error of on.errors!) expect(error.message).toBe('no secret of artist-1');
  });

  it('merges concurrent identical requests of one user, never those of different users', async () => {
    const tokens = await Promise.all(['user-1', 'user-2', 'user-3'].map((userId) => mintToken(keys, { userId })));
    const sameUser = await Promise.all([1, 2, 3, 4].map(() => gql(savingsOn, '{ whoami(delayMs: 300) }', {}, tokens[0])));
    for (const answer of sameUser) expect(answer).toEqual({ data: { whoami: 'user-1' } });
    expect(feedProxy.count()).toBe(1);

    feedProxy.reset();
    const users = await Promise.all(tokens.flatMap((token) => [token, token]).map((token) => gql(savingsOn, '{ whoami(delayMs: 300) }', {}, token)));
    expect(users.map((a) => (a.data as { whoami: string }).whoami)).toEqual(['user-1', 'user-1', 'user-2', 'user-2', 'user-3', 'user-3']);
    expect(feedProxy.count()).toBe(3);

    feedProxy.reset();
    const anonymous = await Promise.all([gql(savingsOn, '{ whoami(delayMs: 300) }'), gql(savingsOn, '{ whoami(delayMs: 300) }', {}, tokens[1])]);
    expect(anonymous.map((a) => (a.data as { whoami: string | null }).whoami)).toEqual([null, 'user-2']);
    expect(feedProxy.count()).toBe(2);

    feedProxy.reset();
    const unmerged = await Promise.all([1, 2, 3].map(() => gql(savingsOff, '{ whoami(delayMs: 300) }', {}, tokens[0])));
    for (const answer of unmerged) expect(answer).toEqual({ data: { whoami: 'user-1' } });
    expect(feedProxy.count()).toBe(3);
  });

  it('concurrent identical item lists merge and still give every caller the full answer', async () => {
    const query = '{ items(count: 50, delayMs: 200) { id artist { id name } } }';
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => gql(savingsOn, query)));
    expect(feedProxy.count()).toBe(1);
    expect(artistsProxy.count()).toBe(1);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    const off = await gql(savingsOff, query);
    expect(off).toEqual(a);
  });

  it("passes a client's own variable named representations through untouched", async () => {
    const query = 'query Count($representations: [String!]!) { countItems(items: $representations) }';
    const variables = { representations: ['x', 'x', 'y', 'x'] };
    expect(await gql(savingsOn, query, variables)).toEqual({ data: { countItems: 4 } });
    expect(await gql(savingsOff, query, variables)).toEqual({ data: { countItems: 4 } });
  });
});
