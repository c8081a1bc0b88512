// What a subgraph server answers to requests the gateway never sends (hostile traffic on the
// internal network, found by test/fuzz.e2e.test.ts): a known code, never INTERNAL_SERVER_ERROR.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'graphql';
import { createLogger, startSubgraphServer, unauthenticated, type RunningServer } from '@vibestream/platform';

let server: RunningServer;

beforeAll(async () => {
  server = await startSubgraphServer({
    name: 'plain',
    port: 0,
    host: '127.0.0.1',
    typeDefs: parse(`type Query { hello: String }`),
    resolvers: { Query: { hello: () => 'world' } },
    verifier: async () => {
      throw unauthenticated();
    },
    log: createLogger('subgraph-server-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
    introspection: false,
    context: (base) => base,
  });
});
afterAll(async () => server?.stop());

it('refuses automatic persisted queries with PERSISTED_QUERY_NOT_SUPPORTED, whatever the hash', async () => {
  for (const sha256Hash of ['x', 'ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38']) {
    for (const query of [undefined, '{ hello }']) {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } }),
      });
      const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
      // Apollo answers persisted-query errors with 200, as the APQ protocol has it.
      expect(response.status).toBe(200);
      expect(body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    }
  }
});
