// Issue 13, finding 6: subgraphs believed any X-Forwarded-For, so a caller that reached identity
// directly could name a fresh address on every attempt and never meet the per-address sign-in
// limit. Identity now believes the header from its trusted proxies (the gateway) only. Linux
// routes all of 127.0.0.0/8 to loopback: the gateway reaches identity from 127.0.0.1, trusted,
// and the attacker from 127.0.0.2, not.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '../src/index.ts';

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`;
const PER_ADDRESS = 3;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('client-address', [identitySubgraph], {
    TRUSTED_PROXIES: '127.0.0.1',
    LOGIN_MAX_FAILURES_PER_ADDRESS: String(PER_ADDRESS),
    LOGIN_MAX_FAILURES_PER_EMAIL: '100',
  });
  const registered = await stack.gql(REGISTER, { input: { email: 'kept@example.com', password: 'a-long-password', displayName: 'Kept' } });
  expect(registered.errors).toBeUndefined();
});
afterAll(async () => stack?.stop());

/** POSTs a GraphQL request straight to identity from `localAddress`, with the headers given. */
function postToIdentity(localAddress: string, body: unknown, headers: Record<string, string>): Promise<GraphQLResult> {
  const url = new URL(stack.subgraphs.get('identity')!.url);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: url.port, path: url.pathname, method: 'POST', localAddress, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const wrongPassword = (n: number) => ({ query: LOGIN, variables: { email: `nobody${n}@example.com`, password: 'wrong-password' } });

describe('client addresses at a subgraph', () => {
  it('counts a direct caller at its own address, whatever X-Forwarded-For it forges', async () => {
    const codes: (string | undefined)[] = [];
    for (let n = 0; n <= PER_ADDRESS; n++) {
      codes.push(errorCode(await postToIdentity('127.0.0.2', wrongPassword(n), { 'x-forwarded-for': `198.51.100.${n + 1}` })));
    }
    expect(codes.slice(0, PER_ADDRESS)).not.toContain('RATE_LIMITED');
    expect(codes[PER_ADDRESS]).toBe('RATE_LIMITED');
    // Without the header too: the failures were recorded under 127.0.0.2.
    expect(errorCode(await postToIdentity('127.0.0.2', wrongPassword(99), {}))).toBe('RATE_LIMITED');
  });

  it('believes the gateway, so a client through it is counted at its own address, not at the blocked one', async () => {
    const login = await stack.gql<{ login: { accessToken: string } }>(LOGIN, { email: 'kept@example.com', password: 'a-long-password' });
    expect(login.errors).toBeUndefined();
    // A trusted peer's header names the client: failures under 203.0.113.9 block 203.0.113.9 only.
    for (let n = 0; n < PER_ADDRESS; n++) await postToIdentity('127.0.0.1', wrongPassword(200 + n), { 'x-forwarded-for': '203.0.113.9' });
    expect(errorCode(await postToIdentity('127.0.0.1', wrongPassword(300), { 'x-forwarded-for': '203.0.113.9' }))).toBe('RATE_LIMITED');
    expect(errorCode(await postToIdentity('127.0.0.1', wrongPassword(301), { 'x-forwarded-for': '203.0.113.10' }))).not.toBe('RATE_LIMITED');
  });
});
