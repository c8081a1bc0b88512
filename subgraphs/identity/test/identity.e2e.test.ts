// identity through the gateway: registration and sign-in, sessions, access tokens at the gateway and
// the subgraph, roles, and what wallet linking needs a token or the entity layer for. The wallet-linking
// rules run on identity's own schema in use-cases.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet as EthWallet } from 'ethers';
import { Keypair } from '@solana/web3.js';
import bs58 from 'bs58';
import { errorCode, mintToken, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
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

// ---- Wallets: what needs a token and the gateway (the linking rules are use-cases.test.ts') ----

const CHALLENGE = `mutation WalletChallenge($chain: Chain!, $address: String!) {
  walletChallenge(chain: $chain, address: $address) { message expiresAt }
}`;
const LINK = `mutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {
  linkWallet(chain: $chain, address: $address, signature: $signature) { chain address linkedAt }
}`;

type Chain = 'ETHEREUM' | 'SOLANA';
type LinkedWallet = { chain: Chain; address: string; linkedAt: string };
type Account = { token: string; userId: string };

let accounts = 0;
async function newAccount(): Promise<Account> {
  const email = `wallet-user-${++accounts}@example.com`;
  const res = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
    input: { email, password: 'a-long-password', displayName: `User ${accounts}` },
  });
  expect(res.errors).toBeUndefined();
  return { token: res.data!.register.accessToken, userId: res.data!.register.user.id };
}

async function challenge(account: Account, chain: Chain, address: string) {
  const res = await stack.gql<{ walletChallenge: { message: string; expiresAt: string } }>(CHALLENGE, { chain, address }, { token: account.token });
  expect(res.errors).toBeUndefined();
  return res.data!.walletChallenge;
}

function link(account: Account | null, chain: Chain, address: string, signature: string): Promise<GraphQLResult<{ linkWallet: LinkedWallet }>> {
  return stack.gql<{ linkWallet: LinkedWallet }>(LINK, { chain, address, signature }, account ? { token: account.token } : {});
}

describe('walletChallenge and linkWallet', () => {
  it('is UNAUTHENTICATED without an access token', async () => {
    const eth = EthWallet.createRandom();
    expect(errorCode(await stack.gql(CHALLENGE, { chain: 'ETHEREUM', address: eth.address }))).toBe('UNAUTHENTICATED');
  });

  it('is UNAUTHENTICATED without an access token, and links nothing', async () => {
    const account = await newAccount();
    const eth = EthWallet.createRandom();
    const { message } = await challenge(account, 'ETHEREUM', eth.address);
    const signature = await eth.signMessage(message);
    const myWallets = async () => (await stack.gql<{ me: { wallets: LinkedWallet[] } }>(ME, {}, { token: account.token })).data!.me.wallets;
    expect(await myWallets()).toEqual([]);
    const anonymous = await link(null, 'ETHEREUM', eth.address, signature);
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(errorCode(await link(null, 'SOLANA', Keypair.generate().publicKey.toBase58(), bs58.encode(new Uint8Array(64))))).toBe('UNAUTHENTICATED');
    const forged = await stack.gql(LINK, { chain: 'ETHEREUM', address: eth.address, signature }, { token: 'garbage' });
    expect(errorCode(forged)).toBe('UNAUTHENTICATED');
    // The challenge was not consumed by those attempts.
    expect((await link(account, 'ETHEREUM', eth.address, signature)).errors).toBeUndefined();
    // And me, through the gateway, lists the wallet now.
    expect(await myWallets()).toEqual([expect.objectContaining({ chain: 'ETHEREUM', address: eth.address })]);
  });
});

describe("another user's email and wallets", () => {
  const ENTITY = `query User($id: ID!) {
    _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { id displayName email wallets { address } } }
  }`;

  it('are not reachable through the gateway (there is no user(id) query, and _entities is not public)', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    const res = await stack.gql(ENTITY, { id: alice.userId }, { token: bob.token });
    expect(res.data ?? null).toBeNull();
    expect(errorCode(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(res)).not.toContain('wallet-user-');
  });

  it('are FORBIDDEN to another user resolving the entity at the subgraph, but readable by the owner', async () => {
    const alice = await newAccount();
    const bob = await newAccount();
    const eth = EthWallet.createRandom();
    expect(
      (await link(alice, 'ETHEREUM', eth.address, await eth.signMessage((await challenge(alice, 'ETHEREUM', eth.address)).message))).errors,
    ).toBeUndefined();

    const direct = stack.subgraph('identity');
    type Entities = { _entities: ({ id: string; displayName: string; email: string | null; wallets: { address: string }[] | null } | null)[] };

    const asBob = await direct<Entities>(ENTITY, { id: alice.userId }, { token: bob.token });
    expect(asBob.errors?.map((e) => e.extensions?.code)).toEqual(expect.arrayContaining(['FORBIDDEN']));
    expect(asBob.errors?.every((e) => e.extensions?.code === 'FORBIDDEN')).toBe(true);
    const seen = asBob.data?._entities?.[0];
    expect(seen?.email ?? null).toBeNull();
    expect(seen?.wallets ?? null).toBeNull();
    expect(JSON.stringify(asBob)).not.toContain(eth.address);
    expect(JSON.stringify(asBob)).not.toMatch(/wallet-user-\d+@example\.com/);

    const anonymous = await direct<Entities>(ENTITY, { id: alice.userId });
    expect(anonymous.errors?.length).toBeGreaterThan(0);
    expect(anonymous.errors?.every((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    expect(JSON.stringify(anonymous)).not.toContain(eth.address);

    const asAlice = await direct<Entities>(ENTITY, { id: alice.userId }, { token: alice.token });
    expect(asAlice.errors).toBeUndefined();
    expect(asAlice.data!._entities[0]).toMatchObject({ id: alice.userId, wallets: [{ address: eth.address }] });
    expect(asAlice.data!._entities[0]!.email).toMatch(/^wallet-user-\d+@example\.com$/);
  });
});
