import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { generateSigningKeys } from '@vibestream/platform';
import { identitySubgraph } from '../src/index.ts';

const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken user { id email displayName roles } }
}`;
const LOGIN = `mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken user { id roles } }
}`;
const REFRESH = `mutation RefreshSession($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { accessToken refreshToken } }`;
const ME = `query Me { me { id email displayName roles createdAt wallets { chain address linkedAt } } }`;
const LOGOUT = `mutation Logout { logout }`;
const SET_ROLES = `mutation SetUserRoles($userId: ID!, $roles: [Role!]!) { setUserRoles(userId: $userId, roles: $roles) { id roles } }`;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('identity', [identitySubgraph], {
    ADMIN_EMAIL: 'root@vibestream.test',
    ADMIN_PASSWORD: 'correct horse battery',
    LOGIN_MAX_FAILURES_PER_EMAIL: '3',
  });
});
afterAll(async () => stack?.stop());

type AuthPayload = { accessToken: string; refreshToken: string; user: { id: string; email: string; displayName: string; roles: string[] } };

async function register(email: string, extra: Record<string, unknown> = {}) {
  return stack.gql<{ register: AuthPayload }>(REGISTER, {
    input: { email, password: 'a-long-password', displayName: 'Ada', ...extra },
  });
}

describe('register and sign in', () => {
  it('registers a fan and answers me', async () => {
    const res = await register('ada@example.com');
    expect(res.errors).toBeUndefined();
    const { accessToken, user } = res.data!.register;
    expect(user).toMatchObject({ email: 'ada@example.com', displayName: 'Ada', roles: ['FAN'] });
    const me = await stack.gql<{ me: { id: string; email: string; wallets: unknown[] } }>(ME, {}, { token: accessToken });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toMatchObject({ id: user.id, email: 'ada@example.com', wallets: [] });
  });

  it('rejects bad input with BAD_USER_INPUT naming the field', async () => {
    const badEmail = await register('not-an-email');
    expect(errorCode(badEmail)).toBe('BAD_USER_INPUT');
    expect(badEmail.errors![0]!.extensions!.field).toBe('input.email');
    const shortPassword = await stack.gql(REGISTER, { input: { email: 'x@example.com', password: 'short', displayName: 'X' } });
    expect(errorCode(shortPassword)).toBe('BAD_USER_INPUT');
    const emptyName = await stack.gql(REGISTER, { input: { email: 'y@example.com', password: 'a-long-password', displayName: '  ' } });
    expect(errorCode(emptyName)).toBe('BAD_USER_INPUT');
  });

  it('refuses a self-assigned ADMIN role', async () => {
    expect(errorCode(await register('mallory@example.com', { role: 'ADMIN' }))).toBe('FORBIDDEN');
  });

  it('registers an artist', async () => {
    const res = await register('artist@example.com', { role: 'ARTIST' });
    expect(res.data!.register.user.roles).toEqual(['ARTIST']);
  });

  it('answers CONFLICT for an email that exists, compared case-insensitively', async () => {
    await register('case@example.com');
    expect(errorCode(await register('CASE@Example.com'))).toBe('CONFLICT');
  });

  it('creates exactly one account when one email registers concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => register('race@example.com')));
    expect(results.filter((r) => r.data?.register).length).toBe(1);
    expect(results.filter((r) => errorCode(r) === 'CONFLICT').length).toBe(7);
  });

  it('answers one identical UNAUTHENTICATED for an unknown email and a wrong password', async () => {
    await register('login@example.com');
    const unknown = await stack.gql(LOGIN, { email: 'nobody@example.com', password: 'a-long-password' });
    const wrong = await stack.gql(LOGIN, { email: 'login@example.com', password: 'wrong-password' });
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(errorCode(wrong)).toBe('UNAUTHENTICATED');
    expect(unknown.errors![0]!.message).toBe(wrong.errors![0]!.message);
    const ok = await stack.gql<{ login: AuthPayload }>(LOGIN, { email: 'LOGIN@example.com', password: 'a-long-password' });
    expect(ok.data!.login.user.roles).toEqual(['FAN']);
  });

  it('rate-limits repeated failures for one email', async () => {
    await register('limited@example.com');
    for (let i = 0; i < 3; i++) {
      expect(errorCode(await stack.gql(LOGIN, { email: 'limited@example.com', password: 'wrong-password' }))).toBe('UNAUTHENTICATED');
    }
    const limited = await stack.gql(LOGIN, { email: 'limited@example.com', password: 'a-long-password' });
    expect(errorCode(limited)).toBe('RATE_LIMITED');
  });
});

describe('sessions', () => {
  it('rotates refresh tokens, and reuse of a rotated one revokes the whole family', async () => {
    const { refreshToken: first } = (await register('rotate@example.com')).data!.register;
    const second = await stack.gql<{ refreshSession: { refreshToken: string; accessToken: string } }>(REFRESH, { refreshToken: first });
    expect(second.errors).toBeUndefined();
    const secondToken = second.data!.refreshSession.refreshToken;
    const third = await stack.gql<{ refreshSession: { refreshToken: string } }>(REFRESH, { refreshToken: secondToken });
    const thirdToken = third.data!.refreshSession.refreshToken;

    // The first token was already rotated: presenting it again is theft.
    expect(errorCode(await stack.gql(REFRESH, { refreshToken: first }))).toBe('UNAUTHENTICATED');
    // Every descendant of that login is now dead too.
    expect(errorCode(await stack.gql(REFRESH, { refreshToken: thirdToken }))).toBe('UNAUTHENTICATED');
  });

  it('logout revokes the caller session family', async () => {
    const { accessToken, refreshToken } = (await register('logout@example.com')).data!.register;
    const out = await stack.gql<{ logout: boolean }>(LOGOUT, {}, { token: accessToken });
    expect(out.data!.logout).toBe(true);
    expect(errorCode(await stack.gql(REFRESH, { refreshToken }))).toBe('UNAUTHENTICATED');
    // The access token ended with its session.
    expect(errorCode(await stack.gql(LOGOUT, {}, { token: accessToken }))).toBe('UNAUTHENTICATED');
  });
});

describe('access tokens', () => {
  it('me without a token is UNAUTHENTICATED', async () => {
    expect(errorCode(await stack.gql(ME))).toBe('UNAUTHENTICATED');
  });

  it('a forged, expired or wrongly-signed token is UNAUTHENTICATED at the gateway and at the subgraph', async () => {
    const { user } = (await register('tokens@example.com')).data!.register;
    const expired = await mintToken(stack.keys, { userId: user.id, expiresIn: -60 });
    const wrongKey = await mintToken(generateSigningKeys(), { userId: user.id });
    const wrongAudience = await mintToken(stack.keys, { userId: user.id, audience: 'someone-else' });
    const valid = await mintToken(stack.keys, { userId: user.id });
    const [header, payload] = valid.split('.');
    const tamperedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), roles: ['ADMIN'] })).toString(
      'base64url',
    );
    const forged = `${header}.${tamperedPayload}.${valid.split('.')[2]}`;
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
    for (const token of [expired, wrongKey, wrongAudience, forged, unsigned, 'garbage']) {
      const viaGateway = await stack.gql(ME, {}, { token });
      expect(errorCode(viaGateway)).toBe('UNAUTHENTICATED');
      expect(viaGateway.status).toBe(401);
      const direct = await stack.subgraph('identity')(ME, {}, { token });
      expect(errorCode(direct)).toBe('UNAUTHENTICATED');
    }
    const ok = await stack.gql<{ me: { id: string } }>(ME, {}, { token: valid });
    expect(ok.data!.me.id).toBe(user.id);
  });
});

describe('roles', () => {
  it('the configured admin exists; setUserRoles is ADMIN only and applies on the next token', async () => {
    const admin = await stack.gql<{ login: AuthPayload }>(LOGIN, { email: 'root@vibestream.test', password: 'correct horse battery' });
    expect(admin.data!.login.user.roles).toContain('ADMIN');
    const fan = (await register('promote@example.com')).data!.register;

    const denied = await stack.gql(SET_ROLES, { userId: fan.user.id, roles: ['ARTIST'] }, { token: fan.accessToken });
    expect(errorCode(denied)).toBe('FORBIDDEN');
    const anonymous = await stack.gql(SET_ROLES, { userId: fan.user.id, roles: ['ARTIST'] });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');

    const done = await stack.gql<{ setUserRoles: { roles: string[] } }>(
      SET_ROLES,
      { userId: fan.user.id, roles: ['FAN', 'ARTIST'] },
      { token: admin.data!.login.accessToken },
    );
    expect(done.data!.setUserRoles.roles).toEqual(['FAN', 'ARTIST']);
    const refreshed = await stack.gql<{ refreshSession: { accessToken: string } }>(REFRESH, { refreshToken: fan.refreshToken });
    const claims = JSON.parse(Buffer.from(refreshed.data!.refreshSession.accessToken.split('.')[1]!, 'base64url').toString());
    expect(claims.roles).toEqual(['FAN', 'ARTIST']);

    const missing = await stack.gql(SET_ROLES, { userId: '00000000-0000-4000-8000-000000000000', roles: ['FAN'] }, { token: admin.data!.login.accessToken });
    expect(errorCode(missing)).toBe('NOT_FOUND');
    const empty = await stack.gql(SET_ROLES, { userId: fan.user.id, roles: [] }, { token: admin.data!.login.accessToken });
    expect(errorCode(empty)).toBe('BAD_USER_INPUT');
  });
});
