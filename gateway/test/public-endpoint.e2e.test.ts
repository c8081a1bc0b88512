import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('publicendpoint', [identitySubgraph, catalogSubgraph], {
    ADMIN_EMAIL: 'admin@vibestream.test',
    ADMIN_PASSWORD: 'a-long-admin-password',
    INTERNAL_API_TOKEN: 'internal-token-for-tests-0123456789abcdef',
  });
}, 60_000);
afterAll(async () => stack?.stop());

const publicGraph = (body: unknown, key?: string) =>
  fetch(`${stack.publicUrl}/public/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: JSON.stringify(body),
  });

describe('/public/graphql on the gateway', () => {
  it('refuses a call without a key and, with a key, serves public fields only', async () => {
    const login = await stack.gql<{ login: { accessToken: string } }>(
      `mutation { login(email: "admin@vibestream.test", password: "a-long-admin-password") { accessToken } }`,
    );
    const created = await stack.gql<{ createApiKey: { key: string } }>(
      `mutation { createApiKey(name: "partner") { key apiKey { id name } } }`,
      {},
      { token: login.data!.login.accessToken },
    );
    expect(created.errors).toBeUndefined();
    const key = created.data!.createApiKey.key;

    const anonymous = await publicGraph({ query: '{ trendingSongs { id title } }' });
    expect(anonymous.status).toBe(401);
    const ok = await publicGraph({ query: '{ trendingSongs { id title } }' }, key);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { trendingSongs: [] } });
    const privateField = await publicGraph({ query: '{ me { email } }' }, key);
    expect(privateField.status).toBe(400);
    expect(JSON.stringify(await privateField.json())).toContain('GRAPHQL_VALIDATION_FAILED');
    const mutation = await publicGraph({ query: 'mutation { createPlaylist(name: "x") { id } }' }, key);
    expect(mutation.status).toBe(400);
  });
});
