// Social sign-in through the gateway against a real OpenID provider (oidc-provider, in this process):
// the whole Authorization Code + PKCE flow, the provider's login driven by the test, then the
// attacks: a replayed state, a reused code, a code from another client, tampered and forged ID
// tokens, and an unverified email that must not take over an existing account.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { errorCode, freePort, startTestOidcProvider, startTestStack, type GraphQLResult, type TestOidcProvider, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '../src/index.ts';

const PROVIDERS = `query SignInProviders { signInProviders { id displayName } }`;
const START = `mutation StartSocialSignIn($provider: String!, $redirectUri: String!) {
  startSocialSignIn(provider: $provider, redirectUri: $redirectUri) { authorizationUrl state }
}`;
const COMPLETE = `mutation CompleteSocialSignIn($state: String!, $code: String!) {
  completeSocialSignIn(state: $state, code: $code) { accessToken refreshToken created user { id email } }
}`;
const ME = `query Me { me { id email displayName emailVerified linkedProviders { provider linkedAt } } }`;
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`;

type Completed = { accessToken: string; refreshToken: string; created: boolean; user: { id: string; email: string } };
type Me = { id: string; email: string; displayName: string; emailVerified: boolean; linkedProviders: { provider: string; linkedAt: string }[] };

const redirectUri = 'http://127.0.0.1:5173/auth/callback';
let oidc: TestOidcProvider;
let stack: TestStack;

beforeAll(async () => {
  oidc = await startTestOidcProvider({
    clients: [
      { clientId: 'vibestream-web', clientSecret: 'alpha-secret-0123456789', redirectUris: [redirectUri] },
      { clientId: 'vibestream-other', clientSecret: 'beta-secret-0123456789', redirectUris: [redirectUri] },
      // Apple-like: answers with response_mode=form_post at the web app's origin.
      { clientId: 'vibestream-fruit', clientSecret: 'fruit-secret-0123456789', redirectUris: ['http://127.0.0.1:5173/oidc/form-post'] },
    ],
  });
  stack = await startTestStack('oidc', [identitySubgraph], {
    OIDC_PROVIDERS: JSON.stringify([
      { id: 'testid', displayName: 'Test ID', issuer: oidc.issuer, clientId: 'vibestream-web', clientSecret: 'alpha-secret-0123456789' },
      { id: 'other', displayName: 'Other', issuer: oidc.issuer, clientId: 'vibestream-other', clientSecret: 'beta-secret-0123456789' },
      {
        id: 'fruit',
        displayName: 'Fruit',
        issuer: oidc.issuer,
        clientId: 'vibestream-fruit',
        clientSecret: 'fruit-secret-0123456789',
        responseMode: 'form_post',
      },
      { id: 'down', displayName: 'Down', issuer: `http://127.0.0.1:${await freePort()}`, clientId: 'x', clientSecret: 'y' },
    ]),
    OIDC_REDIRECT_URIS: redirectUri,
    OIDC_START_MAX_PER_ADDRESS: '5',
    // Each flow below starts from its own client address (X-Forwarded-For from the test, trusted here).
    TRUSTED_PROXIES: '127.0.0.1',
  });
});
afterAll(async () => {
  await stack?.stop();
  await oidc?.stop();
});

let clients = 0;
const anotherClient = () => ({ headers: { 'x-forwarded-for': `198.51.${Math.floor(clients / 250)}.${(clients++ % 250) + 1}` } });

async function start(provider = 'testid') {
  const res = await stack.gql<{ startSocialSignIn: { authorizationUrl: string; state: string } }>(START, { provider, redirectUri }, anotherClient());
  expect(res.errors).toBeUndefined();
  return res.data!.startSocialSignIn;
}

/** start -> the provider's login as `sub` -> the redirect back: the state and code the web app's callback page reads. */
async function authorize(sub: string, provider = 'testid') {
  const { authorizationUrl, state } = await start(provider);
  const back = await oidc.authorize(authorizationUrl, sub);
  expect(back.origin + back.pathname).toBe(redirectUri);
  expect(back.searchParams.get('state')).toBe(state);
  const code = back.searchParams.get('code');
  expect(code).toBeTruthy();
  return { state, code: code! };
}

const complete = (state: string, code: string) => stack.gql<{ completeSocialSignIn: Completed }>(COMPLETE, { state, code });

async function signIn(sub: string): Promise<GraphQLResult<{ completeSocialSignIn: Completed }>> {
  const { state, code } = await authorize(sub);
  return complete(state, code);
}

async function me(token: string): Promise<Me> {
  const res = await stack.gql<{ me: Me }>(ME, {}, { token });
  expect(res.errors).toBeUndefined();
  return res.data!.me;
}

async function identitiesOf(userId: string): Promise<number> {
  const { rows } = await stack.db.query<{ n: number }>('select count(*)::int as n from identity.user_identities where user_id = $1', [userId]);
  return rows[0]!.n;
}

describe('the code flow', () => {
  it('lists the configured providers', async () => {
    const res = await stack.gql<{ signInProviders: { id: string; displayName: string }[] }>(PROVIDERS);
    expect(res.data!.signInProviders).toEqual([
      { id: 'testid', displayName: 'Test ID' },
      { id: 'other', displayName: 'Other' },
      { id: 'fruit', displayName: 'Fruit' },
      { id: 'down', displayName: 'Down' },
    ]);
  });

  it('asks the provider for a code with PKCE S256, a state and a nonce', async () => {
    const { authorizationUrl, state } = await start();
    const url = new URL(authorizationUrl);
    expect(url.origin).toBe(oidc.issuer);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: 'vibestream-web',
      redirect_uri: redirectUri,
      response_type: 'code',
      state,
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    // Only the state's hash is kept.
    const { rows } = await stack.db.query('select 1 from identity.oidc_flows where state_hash = $1', [state]);
    expect(rows).toHaveLength(0);
  });

  it('creates an account on the first sign-in, with a session that works, and reuses it on the next', async () => {
    oidc.setAccount('alice-sub', { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell' });
    const first = await signIn('alice-sub');
    expect(first.errors).toBeUndefined();
    const created = first.data!.completeSocialSignIn;
    expect(created).toMatchObject({ created: true, user: { email: 'alice@example.com' } });
    const profile = await me(created.accessToken);
    expect(profile).toMatchObject({ id: created.user.id, email: 'alice@example.com', displayName: 'Alice Liddell', emailVerified: true });
    expect(profile.linkedProviders.map((p) => p.provider)).toEqual(['testid']);

    const { rows: events } = await stack.db.query<{ type: string; payload: Record<string, unknown> }>(
      `select type, payload from identity.outbox_events where payload->>'userId' = $1 order by type`,
      [created.user.id],
    );
    expect(events.map((e) => e.type)).toEqual(['identity.user.contact_changed.v1', 'identity.user.registered.v1']);
    expect(events[0]!.payload).toMatchObject({ email: 'alice@example.com', emailVerified: true, version: 1 });

    const second = await signIn('alice-sub');
    expect(second.errors).toBeUndefined();
    expect(second.data!.completeSocialSignIn).toMatchObject({ created: false, user: { id: created.user.id } });
    expect((await me(second.data!.completeSocialSignIn.accessToken)).id).toBe(created.user.id);
  });

  it('creates an unverified account when the provider does not vouch for the email', async () => {
    oidc.setAccount('dora-sub', { email: 'dora@example.com', email_verified: false });
    const res = await signIn('dora-sub');
    expect(res.errors).toBeUndefined();
    const profile = await me(res.data!.completeSocialSignIn.accessToken);
    expect(profile).toMatchObject({ email: 'dora@example.com', emailVerified: false, displayName: 'dora' });
  });
});

describe('concurrency and limits', () => {
  it('creates one account when one new identity completes two flows at once', async () => {
    oidc.setAccount('twin-sub', { email: 'twin@example.com', email_verified: true });
    const flows = await Promise.all([authorize('twin-sub'), authorize('twin-sub')]);
    const results = await Promise.all(flows.map((f) => complete(f.state, f.code)));
    expect(results.map((r) => r.errors)).toEqual([undefined, undefined]);
    const users = results.map((r) => r.data!.completeSocialSignIn);
    expect(users[0]!.user.id).toBe(users[1]!.user.id);
    expect(users.map((u) => u.created).sort()).toEqual([false, true]);
    const { rows } = await stack.db.query(`select count(*)::int as n from identity.users where email_normalized = 'twin@example.com'`);
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('limits the flows one client address starts (OIDC_START_MAX_PER_ADDRESS)', async () => {
    const from = { headers: { 'x-forwarded-for': '203.0.113.50' } };
    for (let i = 0; i < 5; i++) expect((await stack.gql(START, { provider: 'testid', redirectUri }, from)).errors).toBeUndefined();
    const limited = await stack.gql(START, { provider: 'testid', redirectUri }, from);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(limited.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('answers INTERNAL_SERVER_ERROR, with nothing of the failure, when a provider is unreachable', async () => {
    const res = await stack.gql(START, { provider: 'down', redirectUri }, anotherClient());
    expect(res.status).toBe(200);
    expect(errorCode(res)).toBe('INTERNAL_SERVER_ERROR');
    expect(res.errors![0]!.message).toBe('Internal server error');
  });
});

describe('form_post (Apple)', () => {
  it('receives the answer at /oidc/form-post, sends the browser on to /auth/callback, and signs in', async () => {
    oidc.setAccount('fruit-sub', { email: 'fruit@example.com', email_verified: 'true', name: 'Fruit Fan' });
    const { authorizationUrl, state } = await start('fruit');
    const asked = new URL(authorizationUrl);
    expect(asked.searchParams.get('response_mode')).toBe('form_post');
    expect(asked.searchParams.get('redirect_uri')).toBe('http://127.0.0.1:5173/oidc/form-post');

    // The provider's page POSTs its form to the web app's origin: here, the gateway.
    const form = await oidc.authorize(authorizationUrl, 'fruit-sub');
    expect(form.pathname).toBe('/oidc/form-post');
    expect(form.searchParams.get('state')).toBe(state);
    const posted = await fetch(`${stack.publicUrl}/oidc/form-post`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...Object.fromEntries(form.searchParams), user: '{"name":{"firstName":"Fruit"}}' }).toString(),
      redirect: 'manual',
    });
    expect(posted.status).toBe(303);
    const callback = new URL(posted.headers.get('location')!, stack.publicUrl);
    expect(callback.pathname).toBe('/auth/callback');
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.has('user')).toBe(false);

    const res = await complete(callback.searchParams.get('state')!, callback.searchParams.get('code')!);
    expect(res.errors).toBeUndefined();
    expect(res.data!.completeSocialSignIn).toMatchObject({ created: true, user: { email: 'fruit@example.com' } });
    expect(await me(res.data!.completeSocialSignIn.accessToken)).toMatchObject({ emailVerified: true, linkedProviders: [{ provider: 'fruit' }] });
  });

  it('sends a malformed or refused answer on as an error, and refuses huge bodies', async () => {
    const post = (body: string) =>
      fetch(`${stack.publicUrl}/oidc/form-post`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        redirect: 'manual',
      });
    const empty = await post('');
    expect(empty.status).toBe(303);
    expect(empty.headers.get('location')).toBe('/auth/callback?error=invalid_request');
    const denied = await post('error=access_denied&state=abc');
    expect(denied.headers.get('location')).toBe('/auth/callback?state=abc&error=access_denied');
    expect((await post(`code=${'c'.repeat(70_000)}`)).status).toBe(413);
    expect((await fetch(`${stack.publicUrl}/oidc/form-post`)).status).toBe(405);
  });
});

describe('single use', () => {
  it('refuses a replayed state', async () => {
    oidc.setAccount('replay-sub', { email: 'replay@example.com', email_verified: true });
    const { state, code } = await authorize('replay-sub');
    expect((await complete(state, code)).errors).toBeUndefined();
    const again = await complete(state, code);
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
    expect(again.errors![0]!.extensions!.field).toBe('state');
  });

  it('lets exactly one of concurrent completions of one state through', async () => {
    oidc.setAccount('race-sub', { email: 'race@example.com', email_verified: true });
    const { state, code } = await authorize('race-sub');
    const results = await Promise.all(Array.from({ length: 5 }, () => complete(state, code)));
    expect(results.filter((r) => r.data?.completeSocialSignIn).length).toBe(1);
    expect(results.filter((r) => errorCode(r) === 'BAD_USER_INPUT').length).toBe(4);
  });

  it('refuses a code used once already, under a fresh state', async () => {
    oidc.setAccount('reuse-sub', { email: 'reuse@example.com', email_verified: true });
    const { state, code } = await authorize('reuse-sub');
    expect((await complete(state, code)).errors).toBeUndefined();
    const fresh = await start();
    const reused = await complete(fresh.state, code);
    expect(errorCode(reused)).toBe('BAD_USER_INPUT');
    expect(reused.errors![0]!.extensions!.field).toBe('code');
  });

  it("refuses a code issued to another provider's client with this provider's state", async () => {
    oidc.setAccount('mixup-sub', { email: 'mixup@example.com', email_verified: true });
    const other = await authorize('mixup-sub', 'other');
    const mine = await start('testid');
    expect(errorCode(await complete(mine.state, other.code))).toBe('BAD_USER_INPUT');
    // The other flow's state was not touched: it still completes with its own code.
    expect((await complete(other.state, other.code)).data?.completeSocialSignIn.user.email).toBe('mixup@example.com');
  });
});

describe('the ID token', () => {
  const forgeries: [string, Parameters<TestOidcProvider['tamperNextIdToken']>[0]][] = [
    [
      'a changed claim under the original signature',
      (token) => {
        const [header, payload, signature] = token.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
        return [header, Buffer.from(JSON.stringify({ ...claims, email: 'victim@example.com' })).toString('base64url'), signature].join('.');
      },
    ],
    ['signed by a key the provider never published', (_t, { claims, forge }) => forge(claims, { key: 'stranger' })],
    ['unsigned (alg none)', (_t, { claims, forge }) => forge(claims, { alg: 'none' })],
    ['for another audience', (_t, { claims, forge }) => forge({ ...claims, aud: 'someone-else' })],
    ['expired', (_t, { claims, forge }) => forge({ ...claims, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['from another issuer', (_t, { claims, forge }) => forge({ ...claims, iss: 'https://evil.example' })],
    ['with another nonce', (_t, { claims, forge }) => forge({ ...claims, nonce: 'not-the-flows-nonce' })],
  ];

  it.each(forgeries)('refuses an ID token %s', async (_name, tamper) => {
    oidc.setAccount('forged-sub', { email: 'forged@example.com', email_verified: true });
    const { state, code } = await authorize('forged-sub');
    oidc.tamperNextIdToken(tamper);
    const res = await complete(state, code);
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    const { rows } = await stack.db.query(`select 1 from identity.users where email_normalized in ('forged@example.com', 'victim@example.com')`);
    expect(rows).toHaveLength(0);
  });

  it('accepts an ID token forged with the same claims by the real key (the hook itself changes nothing)', async () => {
    oidc.setAccount('control-sub', { email: 'control@example.com', email_verified: true });
    const { state, code } = await authorize('control-sub');
    oidc.tamperNextIdToken((_t, { claims, forge }) => forge(claims));
    expect((await complete(state, code)).data?.completeSocialSignIn.created).toBe(true);
  });

  it('refuses an identity without an email, which an account needs', async () => {
    oidc.setAccount('nomail-sub', { name: 'No Mail' });
    const res = await signIn('nomail-sub');
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
  });
});

describe('linking by email', () => {
  it('does not link an unverified email to the account that has it, which stays as it was', async () => {
    const registered = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
      input: { email: 'bob@example.com', password: 'bobs-own-password', displayName: 'Bob' },
    });
    const bob = registered.data!.register.user.id;
    const before = await stack.db.query('select email, password_hash, display_name from identity.users where id = $1', [bob]);

    for (const [sub, verified] of [
      ['mallory-1', false],
      ['mallory-2', 'false'],
      ['mallory-3', undefined],
    ] as const) {
      oidc.setAccount(sub, { email: 'BOB@example.com', ...(verified === undefined ? {} : { email_verified: verified }) });
      const res = await signIn(sub);
      expect(errorCode(res)).toBe('CONFLICT');
      expect(res.errors![0]!.extensions!.reason).toBe('EMAIL_NOT_VERIFIED_BY_PROVIDER');
      expect(res.data?.completeSocialSignIn ?? null).toBeNull();
    }

    expect(await identitiesOf(bob)).toBe(0);
    const after = await stack.db.query('select email, password_hash, display_name from identity.users where id = $1', [bob]);
    expect(after.rows).toEqual(before.rows);
    const login = await stack.gql<{ login: { accessToken: string } }>(LOGIN, { email: 'bob@example.com', password: 'bobs-own-password' });
    expect((await me(login.data!.login.accessToken)).linkedProviders).toEqual([]);
  });

  it('links a verified email (Apple\'s "true" string too) to the account that has it', async () => {
    const registered = await stack.gql<{ register: { user: { id: string } } }>(REGISTER, {
      input: { email: 'carol@example.com', password: 'carols-own-password', displayName: 'Carol' },
    });
    const carol = registered.data!.register.user.id;
    oidc.setAccount('carol-sub', { email: 'Carol@Example.com', email_verified: 'true' });
    const res = await signIn('carol-sub');
    expect(res.errors).toBeUndefined();
    expect(res.data!.completeSocialSignIn).toMatchObject({ created: false, user: { id: carol, email: 'carol@example.com' } });
    expect((await me(res.data!.completeSocialSignIn.accessToken)).linkedProviders.map((p) => p.provider)).toEqual(['testid']);
    // From then on the identity signs in to that account, whatever its email claim says.
    oidc.setAccount('carol-sub', { email: 'carol.new@example.com', email_verified: false });
    expect((await signIn('carol-sub')).data!.completeSocialSignIn.user.id).toBe(carol);
  });
});

describe('one identity per provider', () => {
  it('refuses a second identity of the same provider for an account (CONFLICT), and links nothing', async () => {
    oidc.setAccount('first-sub', { email: 'one-per@example.com', email_verified: true });
    const first = (await signIn('first-sub')).data!.completeSocialSignIn;
    oidc.setAccount('second-sub', { email: 'one-per@example.com', email_verified: true });
    const second = await signIn('second-sub');
    expect(errorCode(second)).toBe('CONFLICT');
    expect(await identitiesOf(first.user.id)).toBe(1);
    // The first still signs in.
    expect((await signIn('first-sub')).data!.completeSocialSignIn.user.id).toBe(first.user.id);
  });
});

describe('an account squatted before its owner arrived', () => {
  it("is claimed by the provider's verified email: the squatter's password and sessions stop working", async () => {
    // Someone registers the victim's address with a password of their own, never verifying it.
    const squat = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
      input: { email: 'victim@example.org', password: 'squatters-password', displayName: 'Victim' },
    });
    const squatter = squat.data!.register;
    // A second session of theirs, from another sign-in.
    const secondSession = (await stack.gql<{ login: { accessToken: string } }>(LOGIN, { email: 'victim@example.org', password: 'squatters-password' })).data!
      .login;
    expect(secondSession.accessToken).toBeTruthy();

    // The owner of the address signs in with a provider that has verified it.
    oidc.setAccount('victim-sub', { email: 'victim@example.org', email_verified: true });
    const res = await signIn('victim-sub');
    expect(res.errors).toBeUndefined();
    const owner = res.data!.completeSocialSignIn;
    expect(owner).toMatchObject({ created: false, user: { id: squatter.user.id } });
    expect(await me(owner.accessToken)).toMatchObject({ emailVerified: true, linkedProviders: [{ provider: 'testid' }] });

    expect(errorCode(await stack.gql(LOGIN, { email: 'victim@example.org', password: 'squatters-password' }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(ME, {}, { token: squatter.accessToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(ME, {}, { token: secondSession.accessToken }))).toBe('UNAUTHENTICATED');
    const { rows } = await stack.db.query<{ n: number }>(`select count(*)::int as n from identity.refresh_tokens where user_id = $1 and revoked_at is null`, [
      squatter.user.id,
    ]);
    expect(rows[0]!.n).toBe(1); // only the owner's new session
    const { rows: events } = await stack.db.query<{ payload: { emailVerified: boolean; version: number } }>(
      `select payload from identity.outbox_events where type = 'identity.user.contact_changed.v1' and payload->>'userId' = $1 order by (payload->>'version')::int`,
      [squatter.user.id],
    );
    expect(events.map((e) => [e.payload.emailVerified, e.payload.version])).toEqual([
      [false, 1],
      [true, 2],
    ]);
  });

  it('keeps the password and sessions of an account that verified its email', async () => {
    const registered = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
      input: { email: 'proven@example.org', password: 'provens-password', displayName: 'Proven' },
    });
    const account = registered.data!.register;
    await stack.db.query('update identity.users set email_verified_at = now() where id = $1', [account.user.id]);
    oidc.setAccount('proven-sub', { email: 'proven@example.org', email_verified: true });
    expect((await signIn('proven-sub')).data!.completeSocialSignIn.user.id).toBe(account.user.id);
    expect((await stack.gql(LOGIN, { email: 'proven@example.org', password: 'provens-password' })).errors).toBeUndefined();
    expect((await stack.gql(ME, {}, { token: account.accessToken })).errors).toBeUndefined();
  });
});

describe('who sees linkedProviders', () => {
  const ENTITY = `query($id: ID!) { _entities(representations: [{ __typename: "User", id: $id }]) { ... on User { id linkedProviders { provider } } } }`;
  type Entities = { _entities: ({ id: string; linkedProviders: { provider: string }[] | null } | null)[] };

  it('the account itself; another user, even resolving the entity at the subgraph, is FORBIDDEN', async () => {
    oidc.setAccount('owner-sub', { email: 'owner@example.com', email_verified: true });
    const owner = (await signIn('owner-sub')).data!.completeSocialSignIn;
    oidc.setAccount('nosy-sub', { email: 'nosy@example.com', email_verified: true });
    const nosy = (await signIn('nosy-sub')).data!.completeSocialSignIn;
    const direct = stack.subgraph('identity');
    const asNosy = await direct<Entities>(ENTITY, { id: owner.user.id }, { token: nosy.accessToken });
    expect(asNosy.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(asNosy.data?._entities?.[0]?.linkedProviders ?? null).toBeNull();
    const anonymous = await direct<Entities>(ENTITY, { id: owner.user.id });
    expect(anonymous.errors?.every((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    const asOwner = await direct<Entities>(ENTITY, { id: owner.user.id }, { token: owner.accessToken });
    expect(asOwner.data!._entities[0]!.linkedProviders).toEqual([{ provider: 'testid' }]);
  });
});

describe('bad input', () => {
  it('answers BAD_USER_INPUT for an unknown provider and a redirectUri off the allow-list', async () => {
    const unknown = await stack.gql(START, { provider: 'myspace', redirectUri });
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    expect(unknown.errors![0]!.extensions!.field).toBe('provider');
    for (const uri of ['https://evil.example/auth/callback', `${redirectUri}/../steal`, `${redirectUri}?x=1`, `${redirectUri}/`, 'x'.repeat(10_000)]) {
      const res = await stack.gql(START, { provider: 'testid', redirectUri: uri });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.field).toBe('redirectUri');
    }
  });

  it('answers BAD_USER_INPUT for any string as provider, redirectUri, state or code (property, through the gateway)', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 50 }),
      fc.webUrl(),
      fc.constantFrom('testid', redirectUri, ''),
    );
    await fc.assert(
      fc.asyncProperty(text, text, async (a, b) => {
        const started = await stack.gql(START, { provider: a, redirectUri: b }, anotherClient());
        const completed = await complete(a, b);
        const okStart = started.errors === undefined ? a === 'testid' && b === redirectUri : errorCode(started) === 'BAD_USER_INPUT';
        return okStart && errorCode(completed) === 'BAD_USER_INPUT';
      }),
      { numRuns: 60 },
    );
  });

  it('answers BAD_USER_INPUT, never a server error, for made-up, huge or odd states and codes', async () => {
    for (const [state, code] of [
      ['made-up', 'code'],
      ['', 'code'],
      ['s'.repeat(100_000), 'code'],
      ['\u0000\u{1F600}', 'code'],
    ]) {
      expect(errorCode(await complete(state!, code!))).toBe('BAD_USER_INPUT');
    }
    const { state } = await start();
    expect(errorCode(await complete(state, 'c'.repeat(100_000)))).toBe('BAD_USER_INPUT');
  });
});
