import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '../src/index.ts';

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }`;
const PASSWORD = 'a-long-password';
const PER_EMAIL = 5;
const PER_ADDRESS = 8;

// Finding 5: the block check ran before the slow hash and the failure was recorded after it,
// so concurrent wrong passwords were all checked. Both backends: Redis, and in-process (npm start).
describe.each([
  { backend: 'Redis', redisUrl: undefined },
  { backend: 'in-process', redisUrl: '' },
])('concurrent sign-in failures ($backend)', ({ backend, redisUrl }) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(`login-limits-${backend === 'Redis' ? 'redis' : 'memory'}`, [identitySubgraph], {
      LOGIN_MAX_FAILURES_PER_EMAIL: String(PER_EMAIL),
      LOGIN_MAX_FAILURES_PER_ADDRESS: String(PER_ADDRESS),
      // The tests pick their client address with X-Forwarded-For, believed from loopback only.
      TRUSTED_PROXIES: '127.0.0.1',
      // A slower hash widens the window between the check and the outcome.
      PASSWORD_SCRYPT_LOG2N: '14',
      ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
    });
  });
  afterAll(async () => stack?.stop());

  const register = async (email: string) => {
    const res = await stack.gql(REGISTER, { input: { email, password: PASSWORD, displayName: 'Target' } });
    expect(res.errors).toBeUndefined();
  };
  const login = (email: string, password: string, address: string) => stack.gql(LOGIN, { email, password }, { headers: { 'x-forwarded-for': address } });
  const codes = (results: GraphQLResult<unknown>[]) => results.map((r) => errorCode(r) ?? 'OK');
  const count = (list: string[], code: string) => list.filter((c) => c === code).length;

  it(`checks at most ${PER_EMAIL} of 20 concurrent wrong passwords for one account, then refuses even the right one`, async () => {
    await register('target@example.com');
    // Each from its own address, so only the per-email limit applies.
    const results = codes(await Promise.all(Array.from({ length: 20 }, (_, i) => login('target@example.com', `wrong-password-${i}`, `198.51.100.${i + 1}`))));
    expect(count(results, 'UNAUTHENTICATED')).toBe(PER_EMAIL);
    expect(count(results, 'RATE_LIMITED')).toBe(20 - PER_EMAIL);
    expect(errorCode(await login('target@example.com', PASSWORD, '198.51.100.99'))).toBe('RATE_LIMITED');
  });

  it(`checks at most ${PER_ADDRESS} of 20 concurrent wrong passwords from one address, across accounts`, async () => {
    const emails = Array.from({ length: 20 }, (_, i) => `spray${i}@example.com`);
    for (const email of emails) await register(email);
    const results = codes(await Promise.all(emails.map((email) => login(email, 'wrong-password', '203.0.113.7'))));
    expect(count(results, 'UNAUTHENTICATED')).toBe(PER_ADDRESS);
    expect(count(results, 'RATE_LIMITED')).toBe(20 - PER_ADDRESS);
    expect(errorCode(await login(emails[0]!, PASSWORD, '203.0.113.7'))).toBe('RATE_LIMITED');
    // Another address is not blocked by this one.
    expect(errorCode(await login(emails[0]!, PASSWORD, '203.0.113.8'))).toBeUndefined();
  });

  it('a right password counts while it is checked, and clears the account’s earlier failures once it succeeds', async () => {
    await register('owner@example.com');
    const wrong = (i: number) => login('owner@example.com', 'wrong-password', `192.0.2.${i}`);
    for (let i = 1; i < PER_EMAIL; i++) expect(errorCode(await wrong(i))).toBe('UNAUTHENTICATED');
    // One attempt is left: of concurrent right passwords, one is checked and signs in.
    const right = codes(await Promise.all(Array.from({ length: 3 }, (_, i) => login('owner@example.com', PASSWORD, `192.0.2.${100 + i}`))));
    expect(count(right, 'OK')).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < PER_EMAIL; i++) expect(errorCode(await wrong(i))).toBe('UNAUTHENTICATED');
    expect(errorCode(await login('owner@example.com', PASSWORD, '192.0.2.200'))).toBeUndefined();
  });
});
