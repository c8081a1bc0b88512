// `_entities` is answered by @apollo/subgraph, which resolves a batch of representations with a
// synchronous map: a representation it cannot handle throws in the middle of the batch, and the
// promises of the references before it are dropped. A rejected one among them used to end the
// process (issue 13, finding 1). These run against a subgraph server with plain resolvers, the
// kind a future subgraph might write, and then check the helper every subgraph builds them with.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { createLogger, keyOnlyReference, referenceById, startSubgraphServer, unauthenticated, type RunningServer } from '@vibestream/platform';
import { graphqlClient, type GraphQLRequest } from '@vibestream/testkit';

const log = createLogger('entities-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const SONG_ID = '7d3c4c8e-9d0b-4d5f-8a39-0f6a1f2b3c4d';

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])
  type Song @key(fields: "id") { id: ID! title: String }
  type Album @key(fields: "id") { id: ID! title: String }
  type Query { hello: String }
`);

/** What the resolvers were asked, so a test can tell that nothing ran. */
const lookups: string[] = [];
const resolvers = {
  Query: { hello: () => 'world' },
  Song: {
    // As catalog's was: async, and failing on a representation without an id.
    __resolveReference: async (ref: { id?: string }) => {
      lookups.push(`Song ${String(ref.id)}`);
      if (!ref.id) throw new Error('no id');
      return { id: ref.id, title: 'Golden' };
    },
  },
  Album: {
    // A resolver that throws synchronously, after an earlier representation's promise exists.
    __resolveReference: (ref: { id: string }) => {
      lookups.push(`Album ${ref.id}`);
      throw new Error('album store down');
    },
  },
};

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
let server: RunningServer;
let gql: GraphQLRequest;

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  server = await startSubgraphServer({
    name: 'entities',
    port: 0,
    host: '127.0.0.1',
    typeDefs,
    resolvers,
    verifier: async () => {
      throw unauthenticated();
    },
    log,
    introspection: false,
    context: (base) => base,
  });
  gql = graphqlClient(server.url);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await server?.stop();
});

afterEach(() => void (lookups.length = 0));

const ENTITIES = 'query ($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Song { id title } } }';

/** Lets a dropped rejection surface as an unhandledRejection event before the test looks. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('_entities', () => {
  it('refuses the crashing batch (a song without an id, then an unknown type) with BAD_USER_INPUT, and keeps serving', async () => {
    const result = await gql('{ _entities(representations: [{__typename: "Song"}, {__typename: "X"}]) { __typename } }');
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'representations' });
    expect(result.errors?.[0]?.message).toMatch(/representations\[0\]/);
    expect(lookups).toEqual([]);
    await settle();
    expect(unhandled).toEqual([]);
    expect((await gql('{ hello }')).data).toEqual({ hello: 'world' });
  });

  it.each([
    ['not an object', ['Song']],
    ['no __typename', [{ id: SONG_ID }]],
    ['a __typename that is not a string', [{ __typename: 7, id: SONG_ID }]],
    ['a type this subgraph does not have', [{ __typename: 'Nope', id: SONG_ID }]],
    ['a type that is not an entity', [{ __typename: 'Query', id: SONG_ID }]],
    ['a missing key field', [{ __typename: 'Song', title: 'x' }]],
    ['a null key field', [{ __typename: 'Song', id: null }]],
    ['an object as an ID key', [{ __typename: 'Song', id: { $gt: '' } }]],
  ])('refuses a representation with %s before any resolver runs', async (_what, representations) => {
    const result = await gql(ENTITIES, { representations: [{ __typename: 'Song', id: SONG_ID }, ...representations] });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'representations' });
    expect(result.errors?.[0]?.message).toMatch(/representations\[1\]/);
    expect(lookups).toEqual([]);
  });

  it('keeps each failing resolver to its own entity: no rejection is left unobserved when a later one throws', async () => {
    const result = await gql(ENTITIES, {
      representations: [
        { __typename: 'Song', id: '' },
        { __typename: 'Album', id: 'a1' },
        { __typename: 'Song', id: SONG_ID },
      ],
    });
    expect(lookups).toEqual(['Song ', 'Album a1', `Song ${SONG_ID}`]);
    expect(result.data).toEqual({ _entities: [null, null, { __typename: 'Song', id: SONG_ID, title: 'Golden' }] });
    expect(result.errors?.map((e) => [e.path, e.extensions?.code]).sort()).toEqual([
      [['_entities', 0], 'INTERNAL_SERVER_ERROR'],
      [['_entities', 1], 'INTERNAL_SERVER_ERROR'],
    ]);
    await settle();
    expect(unhandled).toEqual([]);
  });
});

describe('referenceById', () => {
  const info = {} as never;

  it('answers null for a representation whose id is not an id, without resolving', async () => {
    const seen: string[] = [];
    const resolve = referenceById((id: string) => {
      seen.push(id);
      return { id };
    });
    for (const id of [undefined, null, '', 'x', "1' or '1'='1", 42, { $ne: null }, `${SONG_ID}x`]) {
      expect(await resolve({ id } as never, {}, info)).toBeNull();
    }
    expect(seen).toEqual([]);
    expect(await resolve({ id: SONG_ID.toUpperCase() }, {}, info)).toEqual({ id: SONG_ID });
  });

  it('turns a resolver that throws into a rejection that is already observed', async () => {
    const resolve = referenceById(() => {
      throw new Error('boom');
    });
    const sync = resolve({ id: SONG_ID }, {}, info);
    const rejected = referenceById(async () => {
      throw new Error('async boom');
    })({ id: SONG_ID }, {}, info);
    // Dropped, as @apollo/subgraph drops the promises before a throwing representation.
    void sync;
    void rejected;
    await settle();
    expect(unhandled).toEqual([]);
    await expect(Promise.resolve(sync)).rejects.toThrow('boom');
    await expect(Promise.resolve(rejected)).rejects.toThrow('async boom');
  });

  it('keeps a reference known here only by its key as that key', async () => {
    expect(keyOnlyReference({ id: SONG_ID }, {}, info)).toEqual({ id: SONG_ID });
    expect(keyOnlyReference({ id: 'nope' }, {}, info)).toBeNull();
  });
});
