import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, type RunningSubgraph } from '@vibestream/platform';
import { graphqlClient, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { notificationsSubgraph } from '@vibestream/notifications';
import { startGateway, type RunningGateway } from '../src/index.ts';

const INTERNAL_API_TOKEN = 'internal-token-for-schema-details-0123456789';
const modules = [identitySubgraph, catalogSubgraph, notificationsSubgraph];

let stack: TestStack;
/** The same supergraph and subgraphs behind a gateway in production. */
let production: RunningGateway;
/** identity started on its own in production. */
let productionIdentity: RunningSubgraph;
let apiKey: string;
const clients: Client[] = [];

beforeAll(async () => {
  stack = await startTestStack('schemadetails', modules, {
    ADMIN_EMAIL: 'admin@vibestream.test',
    ADMIN_PASSWORD: 'a-long-admin-password',
    INTERNAL_API_TOKEN,
  });
  const { supergraph } = composeSupergraph(modules, (m) => stack.subgraphs.get(m.name)!.url);
  const productionEnv = { ...stack.env, NODE_ENV: 'production', HOST: '127.0.0.1', MAIL_ENABLED: 'false' };
  production = await startGateway({ env: productionEnv, supergraphSdl: supergraph, port: 0, log: stack.log, live: stack.infra.live });
  productionIdentity = await identitySubgraph.start({ env: productionEnv, port: 0, infra: stack.infra, log: stack.log });

  const login = await stack.gql<{ login: { accessToken: string } }>(
    `mutation { login(email: "admin@vibestream.test", password: "a-long-admin-password") { accessToken } }`,
  );
  const created = await stack.gql<{ createApiKey: { key: string } }>(
    `mutation { createApiKey(name: "partner") { key } }`,
    {},
    { token: login.data!.login.accessToken },
  );
  apiKey = created.data!.createApiKey.key;
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await productionIdentity?.stop();
  await production?.stop();
  await stack?.stop();
});

const gateways = () => ({ development: stack.publicUrl, production: `http://127.0.0.1:${production.port}` });

/** Every error message of an answer, joined. */
async function messagesOf(response: Response): Promise<string> {
  const body = (await response.json()) as { errors?: { message: string }[] };
  expect(body.errors?.length, JSON.stringify(body)).toBeGreaterThan(0);
  return body.errors!.map((e) => e.message).join('\n');
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const REGISTER = 'mutation Register($input: RegisterInput!) { register(input: $input) { accessToken } }';

/** Requests whose errors name a field, argument, type or value the caller almost got right. */
const mistakes: [string, unknown][] = [
  ['a misspelt field', { query: '{ me { emial } }' }],
  ['a misspelt argument', { query: '{ song(idd: "1") { id } }' }],
  [
    'a misspelt enum value',
    { query: 'mutation { register(input: { email: "a@b.c", password: "0123456789", displayName: "A", role: FANN }) { accessToken } }' },
  ],
  ['a misspelt input field', { query: 'mutation { register(input: { emial: "a@b.c", password: "0123456789", displayName: "A" }) { accessToken } }' }],
  ['a misspelt input field in variables', { query: REGISTER, variables: { input: { emial: 'a@b.c', password: '0123456789', displayName: 'A' } } }],
  ['a misspelt enum value in variables', { query: REGISTER, variables: { input: { email: 'a@b.c', password: '0123456789', displayName: 'A', role: 'FANN' } } }],
  ['a misspelt type', { query: 'query ($id: ID!) { song(id: $id) { ... on Sogn { id } } }', variables: { id: '1' } }],
];

describe('field suggestions ("Did you mean …?")', () => {
  it.each(mistakes)('are given in development and never in production on /graphql: %s', async (_, body) => {
    const { development, production: prod } = gateways();
    expect(await messagesOf(await post(`${development}/graphql`, body))).toContain('Did you mean');
    expect(await messagesOf(await post(`${prod}/graphql`, body))).not.toContain('Did you mean');
  });

  it('are given in development and never in production on /public/graphql', async () => {
    const { development, production: prod } = gateways();
    for (const query of ['{ trendingSongs { titel } }', '{ song(idd: "1") { id } }']) {
      expect(await messagesOf(await post(`${development}/public/graphql`, { query }, { 'x-api-key': apiKey }))).toContain('Did you mean');
      const hidden = await messagesOf(await post(`${prod}/public/graphql`, { query }, { 'x-api-key': apiKey }));
      expect(hidden).not.toContain('Did you mean');
    }
  });

  it('are given in development and never in production over graphql-ws', async () => {
    const subscribeError = (port: string | number) =>
      new Promise<string>((resolve) => {
        const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
        clients.push(client);
        client.subscribe(
          { query: 'subscription { notificationAdded { titel } }' },
          {
            next: () => undefined,
            error: (errors) => resolve((errors as { message: string }[]).map((e) => e.message).join('\n')),
            complete: () => resolve(''),
          },
        );
      });
    expect(await subscribeError(new URL(stack.publicUrl).port)).toContain('Did you mean');
    const hidden = await subscribeError(production.port);
    expect(hidden).toContain('Cannot query field "titel"');
    expect(hidden).not.toContain('Did you mean');
  });

  it("are given in development and never in production on a subgraph's own /graphql", async () => {
    const query = '{ me { emial } }';
    const developmentAnswer = await graphqlClient(stack.subgraphs.get('identity')!.url)(query);
    expect(developmentAnswer.errors?.[0]?.message).toContain('Did you mean');
    const productionAnswer = await graphqlClient(productionIdentity.url)(query);
    expect(productionAnswer.errors?.[0]?.message).toContain('Cannot query field "emial"');
    expect(productionAnswer.errors?.[0]?.message).not.toContain('Did you mean');
  });
});
