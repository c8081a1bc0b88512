// Passkeys' use cases on identity's own schema, against a software authenticator (testkit's webauthn-authenticator.ts):
// real WebAuthn ceremonies verified by @simplewebauthn/server, and an attacker's variations of them:
// a replayed or expired challenge, another origin or relying party, another user's challenge or
// credential, a counter going backwards, concurrent finishes with one challenge, malformed input.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFailureLimiter, generateSigningKeys } from '@vibestream/platform';
import { SoftwareAuthenticator, openContext, type ContextHarness } from '@vibestream/testkit';
import { loadIdentityConfig } from '../src/config.ts';
import { migrations } from '../src/migrations.ts';
import * as store from '../src/store.ts';
import { MAX_PASSKEYS_PER_USER } from '../src/domain/passkeys.ts';
import { PasskeyService, relyingPartyOf, userHandleOf } from '../src/use-cases/passkeys.ts';
import { identityServiceOf, insertAccount } from './helpers.ts';

const ORIGIN = 'https://vibestream.example';
const ADDRESS = '203.0.113.7';

let h: ContextHarness;
let db: pg.Client;
let passkeys: PasskeyService;
let makeService: (env: NodeJS.ProcessEnv) => Promise<PasskeyService>;

beforeAll(async () => {
  h = await openContext({ name: 'identity', migrations });
  const base = { DATABASE_URL: h.database.url, JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem, PUBLIC_URL: `${ORIGIN}/`, NODE_ENV: 'test' };
  makeService = async (env) => {
    const config = loadIdentityConfig({ ...base, ...env });
    const limiter = createFailureLimiter(null, 'passkeys:', config.LOGIN_FAILURE_WINDOW_SECONDS);
    const identity = await identityServiceOf(h, config, { limiter });
    return new PasskeyService({ db: h.db, config, identity, limiter, log: h.log });
  };
  passkeys = await makeService({});
  db = new pg.Client({ connectionString: h.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await h?.close();
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { extensions?: { code?: string } } | null;
  return error ? (error.extensions?.code ?? `not an API error: ${String(error)}`) : undefined;
}

const newAccount = () => insertAccount(h, 'passkey-user');

/** A user with one passkey on their own software authenticator. */
async function userWithPasskey() {
  const user = await newAccount();
  const device = new SoftwareAuthenticator(ORIGIN);
  const { response, credential } = device.register(await passkeys.startRegistration(user));
  const passkey = await passkeys.finishRegistration(user, response, 'Laptop');
  return { user, device, credential, passkey };
}

const counterOf = async (id: string) => Number((await db.query('select counter from identity.passkeys where id = $1', [id])).rows[0].counter);

describe('configuration', () => {
  it('derives the relying party from PUBLIC_URL; WEBAUTHN_* override it', async () => {
    expect(passkeys.relyingParty).toEqual({ id: 'vibestream.example', name: 'VibeStream', origins: { origins: [ORIGIN], allowLoopback: true } });
    const config = loadIdentityConfig({
      DATABASE_URL: h.database.url,
      JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem,
      NODE_ENV: 'production',
      INTERNAL_API_TOKEN: 'x'.repeat(32),
      PUBLIC_URL: 'https://api.vibestream.example',
      WEBAUTHN_RP_ID: 'vibestream.example',
      WEBAUTHN_RP_NAME: 'Vibe',
      WEBAUTHN_ORIGINS: 'https://vibestream.example, https://app.vibestream.example',
    });
    expect(relyingPartyOf(config)).toEqual({
      id: 'vibestream.example',
      name: 'Vibe',
      origins: { origins: ['https://vibestream.example', 'https://app.vibestream.example'], allowLoopback: false },
    });
  });

  it('refuses a relying party id that is not a domain, and origins with a path', () => {
    const base = { DATABASE_URL: h.database.url, JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem };
    expect(() => loadIdentityConfig({ ...base, WEBAUTHN_RP_ID: 'https://vibestream.example' })).toThrow(/WEBAUTHN_RP_ID/);
    expect(() => loadIdentityConfig({ ...base, WEBAUTHN_ORIGINS: 'https://vibestream.example/app' })).toThrow(/WEBAUTHN_ORIGINS/);
    expect(() => loadIdentityConfig({ ...base, PASSKEY_CHALLENGE_TTL_SECONDS: '5' })).toThrow(/PASSKEY_CHALLENGE_TTL_SECONDS/);
    // Origins the relying party id does not cover: refused when identity starts.
    const mismatched = loadIdentityConfig({ ...base, PUBLIC_URL: 'https://vibestream.example', WEBAUTHN_ORIGINS: 'https://other.example' });
    expect(() => relyingPartyOf(mismatched)).toThrow(/WEBAUTHN_ORIGINS: https:\/\/other.example: not covered by the relying party id vibestream.example/);
    const loopback = loadIdentityConfig({ ...base, PUBLIC_URL: 'http://127.0.0.1:4000', WEBAUTHN_RP_ID: 'localhost' });
    expect(relyingPartyOf(loopback)).toMatchObject({ id: 'localhost', origins: { origins: ['http://127.0.0.1:4000'], allowLoopback: true } });
    const production = { ...base, NODE_ENV: 'production', INTERNAL_API_TOKEN: 'x'.repeat(32), PUBLIC_URL: 'https://api.vibestream.example' };
    expect(() => relyingPartyOf(loadIdentityConfig({ ...production, WEBAUTHN_RP_ID: 'other.example' }))).toThrow(/not covered/);
  });
});

describe('registration', () => {
  it('offers options bound to the user (handle = their id, not the email), excluding their passkeys', async () => {
    const { user, passkey, credential } = await userWithPasskey();
    expect(passkey).toMatchObject({ name: 'Laptop', userId: user.userId, counter: 0, transports: ['internal'], lastUsedAt: null });
    const options = JSON.parse(await passkeys.startRegistration(user));
    expect(options.rp).toEqual({ id: 'vibestream.example', name: 'VibeStream' });
    expect(options.user.id).toBe(Buffer.from(userHandleOf(user.userId)).toString('base64url'));
    expect(Buffer.from(options.user.id, 'base64url')).toHaveLength(16);
    expect(Buffer.from(options.user.id, 'base64url').toString()).not.toContain(user.email);
    expect(options.excludeCredentials).toEqual([{ id: credential.id, type: 'public-key', transports: ['internal'] }]);
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'preferred' });
    expect(options.attestation).toBe('none');
  });

  it('names a passkey trimmed and capped, Passkey by default', async () => {
    const user = await newAccount();
    const device = new SoftwareAuthenticator(ORIGIN);
    const first = await passkeys.finishRegistration(user, device.register(await passkeys.startRegistration(user)).response, '   ');
    const second = await passkeys.finishRegistration(user, device.register(await passkeys.startRegistration(user)).response, `  ${'k'.repeat(200)} `);
    expect(first.name).toBe('Passkey');
    expect(second.name).toBe('k'.repeat(64));
  });

  it('keeps at most MAX_PASSKEYS_PER_USER passkeys, even when registrations race', async () => {
    const user = await newAccount();
    const device = new SoftwareAuthenticator(ORIGIN);
    for (let i = 0; i < MAX_PASSKEYS_PER_USER - 1; i++)
      await passkeys.finishRegistration(user, device.register(await passkeys.startRegistration(user)).response, `Key ${i}`);
    const racing = [];
    for (let i = 0; i < 3; i++) racing.push(device.register(await passkeys.startRegistration(user)).response);
    const outcomes = await Promise.allSettled(racing.map((r) => passkeys.finishRegistration(user, r, 'Racing')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as { extensions?: { code?: string } }).extensions?.code).toBe('CONFLICT');
    expect(await store.passkeyCountOf(h.db.reader(), user.userId)).toBe(MAX_PASSKEYS_PER_USER);
    expect(await codeOf(passkeys.startRegistration(user))).toBe('CONFLICT');
  });

  it('forgets challenges an hour after they expired, as new ones are issued', async () => {
    const user = await newAccount();
    const old = JSON.parse(await passkeys.startRegistration(user)).challenge as string;
    await db.query(`update identity.passkey_challenges set expires_at = now() - interval '2 hours' where challenge = $1`, [old]);
    await passkeys.startSignIn(null, ADDRESS);
    expect((await db.query('select count(*)::int as n from identity.passkey_challenges where challenge = $1', [old])).rows[0].n).toBe(0);
  });

  it('refuses a replayed challenge: each registration challenge answers once', async () => {
    const user = await newAccount();
    const device = new SoftwareAuthenticator(ORIGIN);
    const options = await passkeys.startRegistration(user);
    await passkeys.finishRegistration(user, device.register(options).response, null);
    expect(await codeOf(passkeys.finishRegistration(user, device.register(options).response, null))).toBe('BAD_USER_INPUT');
  });

  it('refuses an expired challenge', async () => {
    const user = await newAccount();
    const options = await passkeys.startRegistration(user);
    await db.query(`update identity.passkey_challenges set expires_at = now() - interval '1 second' where challenge = $1`, [JSON.parse(options).challenge]);
    expect(await codeOf(passkeys.finishRegistration(user, new SoftwareAuthenticator(ORIGIN).register(options).response, null))).toBe('BAD_USER_INPUT');
  });

  it("refuses another user's challenge, and leaves it usable by its user", async () => {
    const [alice, mallory] = [await newAccount(), await newAccount()];
    const options = await passkeys.startRegistration(alice);
    const device = new SoftwareAuthenticator(ORIGIN);
    expect(await codeOf(passkeys.finishRegistration(mallory, device.register(options).response, null))).toBe('BAD_USER_INPUT');
    expect(await passkeys.finishRegistration(alice, device.register(options).response, null)).toMatchObject({ userId: alice.userId });
  });

  it('refuses another origin, another relying party id, a sign-in assertion type, and an unknown challenge', async () => {
    const user = await newAccount();
    const device = new SoftwareAuthenticator(ORIGIN);
    for (const bend of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { type: 'webauthn.get' }, { challenge: 'A'.repeat(43) }]) {
      const options = await passkeys.startRegistration(user);
      expect(await codeOf(passkeys.finishRegistration(user, device.register(options, bend).response, null)), JSON.stringify(bend)).toBe('BAD_USER_INPUT');
    }
    expect((await db.query('select count(*)::int as n from identity.passkeys where user_id = $1', [user.userId])).rows[0].n).toBe(0);
  });

  it('refuses a credential id already registered, to the same or another account', async () => {
    const { user, device, credential } = await userWithPasskey();
    expect(await codeOf(passkeys.finishRegistration(user, device.register(await passkeys.startRegistration(user), {}, credential).response, null))).toBe(
      'BAD_USER_INPUT',
    );
    const other = await newAccount();
    expect(await codeOf(passkeys.finishRegistration(other, device.register(await passkeys.startRegistration(other), {}, credential).response, null))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('refuses malformed and oversized responses with BAD_USER_INPUT, never an internal error', async () => {
    const user = await newAccount();
    const options = await passkeys.startRegistration(user);
    const valid = JSON.parse(new SoftwareAuthenticator(ORIGIN).register(options).response);
    const hostile = [
      '',
      'not json',
      'null',
      '[]',
      JSON.stringify({ ...valid, type: 'private-key' }),
      JSON.stringify({ ...valid, response: { ...valid.response, attestationObject: '!!!' } }),
      JSON.stringify({ ...valid, response: { ...valid.response, attestationObject: 'AAAA' } }),
      JSON.stringify({ ...valid, response: { ...valid.response, clientDataJSON: 'e30' } }),
      JSON.stringify({ ...valid, padding: 'x'.repeat(20_000) }),
      'x'.repeat(5_000_000),
    ];
    for (const text of hostile) expect(await codeOf(passkeys.finishRegistration(user, text, null)), text.slice(0, 60)).toBe('BAD_USER_INPUT');
    expect(await codeOf(passkeys.finishRegistration(user, JSON.stringify(valid), 'n'.repeat(5000)))).toBe('BAD_USER_INPUT');
  });
});

describe('sign-in', () => {
  it('signs in with the passkey of a typed email, updating its counter and last use', async () => {
    const { user, device, passkey } = await userWithPasskey();
    const start = await passkeys.startSignIn(user.email.toUpperCase(), ADDRESS);
    const options = JSON.parse(start.options);
    expect(options.allowCredentials).toEqual([{ id: passkey.credentialId, type: 'public-key' }]);
    expect(options.rpId).toBe('vibestream.example');
    const session = await passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS);
    expect(session.user.id).toBe(user.userId);
    expect(session.accessToken).toMatch(/^ey/);
    const [stored] = await store.passkeysOfUsers(h.db.reader(), [user.userId]);
    expect(stored!.counter).toBe(1);
    expect(stored!.lastUsedAt).toBeInstanceOf(Date);
  });

  it('signs in with a discoverable credential when no email is given', async () => {
    const { user, device } = await userWithPasskey();
    const start = await passkeys.startSignIn(null, ADDRESS);
    expect(JSON.parse(start.options).allowCredentials ?? []).toEqual([]);
    expect((await passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS)).user.id).toBe(user.userId);
  });

  it('answers the same shape whether or not the email has an account or a passkey', async () => {
    const { user } = await userWithPasskey();
    const plain = await newAccount();
    const shapes = [];
    for (const email of [user.email, plain.email, 'nobody-here@example.com']) {
      const start = await passkeys.startSignIn(email, ADDRESS);
      const options = JSON.parse(start.options);
      shapes.push({
        keys: Object.keys(options).sort(),
        allow: options.allowCredentials.map((c: { id: string; type: string }) => [c.id.length, c.type, Object.keys(c)]),
      });
      // Stable per email: asking twice tells nothing new.
      expect(JSON.parse((await passkeys.startSignIn(email, ADDRESS)).options).allowCredentials).toEqual(options.allowCredentials);
    }
    expect(shapes[1]).toEqual(shapes[2]);
    expect(shapes[0]!.keys).toEqual(shapes[2]!.keys);
  });

  it('refuses a replayed challenge and a replayed assertion', async () => {
    const { device, user } = await userWithPasskey();
    const start = await passkeys.startSignIn(user.email, ADDRESS);
    const assertion = device.assert(start.options);
    await passkeys.finishSignIn(start.challengeId, assertion, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(start.challengeId, assertion, ADDRESS))).toBe('UNAUTHENTICATED');
    expect(await codeOf(passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS))).toBe('UNAUTHENTICATED');
    // The same assertion against a fresh challenge: its signed challenge is the old one.
    const fresh = await passkeys.startSignIn(user.email, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(fresh.challengeId, assertion, ADDRESS))).toBe('UNAUTHENTICATED');
  });

  it('refuses an expired challenge, and a challenge spent by a failed attempt', async () => {
    const { device, user } = await userWithPasskey();
    const start = await passkeys.startSignIn(user.email, ADDRESS);
    await db.query(`update identity.passkey_challenges set expires_at = now() - interval '1 second' where id = $1`, [start.challengeId]);
    expect(await codeOf(passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS))).toBe('UNAUTHENTICATED');
    const next = await passkeys.startSignIn(user.email, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(next.challengeId, device.assert(next.options, { origin: 'https://evil.example' }), ADDRESS))).toBe(
      'UNAUTHENTICATED',
    );
    expect(await codeOf(passkeys.finishSignIn(next.challengeId, device.assert(next.options), ADDRESS))).toBe('UNAUTHENTICATED');
  });

  it('refuses a counter that did not increase (a possible clone), keeping the stored counter', async () => {
    const { device, user, passkey } = await userWithPasskey();
    const signIn = async (counter?: number) => {
      const start = await passkeys.startSignIn(user.email, ADDRESS);
      return passkeys.finishSignIn(start.challengeId, device.assert(start.options, counter === undefined ? {} : { counter }), ADDRESS);
    };
    await signIn(7);
    expect(await counterOf(passkey.id)).toBe(7);
    const warn = vi.spyOn(h.log, 'warn');
    expect(await codeOf(signIn(7))).toBe('UNAUTHENTICATED');
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ passkeyId: passkey.id, userId: user.userId, storedCounter: 7, presentedCounter: 7 }),
      expect.stringContaining('possible cloned authenticator'),
    );
    warn.mockRestore();
    expect(await codeOf(signIn(3))).toBe('UNAUTHENTICATED');
    expect(await codeOf(signIn(0))).toBe('UNAUTHENTICATED');
    expect(await counterOf(passkey.id)).toBe(7);
    await signIn(8);
    expect(await counterOf(passkey.id)).toBe(8);
  });

  it('accepts an authenticator that keeps no counter (always zero)', async () => {
    const { device, user, passkey } = await userWithPasskey();
    for (let i = 0; i < 2; i++) {
      const start = await passkeys.startSignIn(user.email, ADDRESS);
      await passkeys.finishSignIn(start.challengeId, device.assert(start.options, { counter: 0 }), ADDRESS);
    }
    expect(await counterOf(passkey.id)).toBe(0);
  });

  it('refuses another origin, another relying party id and a registration type', async () => {
    const { device, user } = await userWithPasskey();
    for (const bend of [
      { origin: 'https://evil.example' },
      { origin: 'http://localhost.evil.example:80' },
      { rpId: 'evil.example' },
      { type: 'webauthn.create' },
    ]) {
      const start = await passkeys.startSignIn(user.email, ADDRESS);
      expect(await codeOf(passkeys.finishSignIn(start.challengeId, device.assert(start.options, bend), ADDRESS)), JSON.stringify(bend)).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a credential of another user for a typed email, an unknown credential, and a signature by another key', async () => {
    const alice = await userWithPasskey();
    const mallory = await userWithPasskey();
    const start = await passkeys.startSignIn(alice.user.email, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(start.challengeId, mallory.device.assert(start.options, {}, mallory.credential), ADDRESS))).toBe(
      'UNAUTHENTICATED',
    );

    const stranger = new SoftwareAuthenticator(ORIGIN);
    stranger.register(await passkeys.startRegistration(await newAccount())); // never finished: unknown to the server
    const unknown = await passkeys.startSignIn(null, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(unknown.challengeId, stranger.assert(unknown.options), ADDRESS))).toBe('UNAUTHENTICATED');

    // Mallory signs with her key but names Alice's credential (and Alice's user handle).
    const forged = await passkeys.startSignIn(null, ADDRESS);
    const impostor = { ...mallory.credential, id: alice.credential.id, userHandle: alice.credential.userHandle };
    expect(await codeOf(passkeys.finishSignIn(forged.challengeId, mallory.device.assert(forged.options, {}, impostor), ADDRESS))).toBe('UNAUTHENTICATED');
  });

  it('gives exactly one session to concurrent finishes with one challenge', async () => {
    const { device, user, passkey } = await userWithPasskey();
    const start = await passkeys.startSignIn(user.email, ADDRESS);
    const assertions = Array.from({ length: 6 }, (_, i) => device.assert(start.options, { counter: i + 1 }));
    const outcomes = await Promise.allSettled(assertions.map((a) => passkeys.finishSignIn(start.challengeId, a, ADDRESS)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as { extensions?: { code?: string } }).extensions?.code).toBe('UNAUTHENTICATED');
    const sessions = await db.query('select count(distinct family_id)::int as n from identity.refresh_tokens where user_id = $1', [user.userId]);
    expect(sessions.rows[0].n).toBe(1);
    expect(await counterOf(passkey.id)).toBeGreaterThan(0);
  });

  it('refuses malformed input: bad challenge ids, non-JSON and oversized responses', async () => {
    const { device, user } = await userWithPasskey();
    const start = await passkeys.startSignIn(user.email, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn('not-a-uuid', device.assert(start.options), ADDRESS))).toBe('UNAUTHENTICATED');
    expect(await codeOf(passkeys.finishSignIn(randomUUID(), device.assert(start.options), ADDRESS))).toBe('UNAUTHENTICATED');
    for (const text of ['', '{', '{"id":"x"}', 'y'.repeat(1_000_000)])
      expect(await codeOf(passkeys.finishSignIn(start.challengeId, text, ADDRESS))).toBe('BAD_USER_INPUT');
    expect(await codeOf(passkeys.startSignIn('x'.repeat(10_000), ADDRESS))).toBe('BAD_USER_INPUT');
    // Malformed input did not spend the challenge.
    expect((await passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS)).user.id).toBe(user.userId);
  });

  it('a removed passkey no longer signs in; removing is for its owner only', async () => {
    const { device, user, passkey } = await userWithPasskey();
    const other = await newAccount();
    expect(await passkeys.remove(other, passkey.id)).toBe(false);
    expect(await passkeys.remove(user, passkey.id)).toBe(true);
    expect(await passkeys.remove(user, passkey.id)).toBe(false);
    const start = await passkeys.startSignIn(null, ADDRESS);
    expect(await codeOf(passkeys.finishSignIn(start.challengeId, device.assert(start.options), ADDRESS))).toBe('UNAUTHENTICATED');
  });

  it('limits sign-in starts and failed finishes per client address', async () => {
    const limited = await makeService({ PASSKEY_SIGNIN_MAX_PER_ADDRESS: '3' });
    const address = '198.51.100.9';
    const starts = [];
    for (let i = 0; i < 3; i++) starts.push(await limited.startSignIn(null, address));
    expect(await codeOf(limited.startSignIn(null, address))).toBe('RATE_LIMITED');
    expect(await limited.startSignIn(null, '198.51.100.10')).toHaveProperty('challengeId');
    for (let i = 0; i < 3; i++) expect(await codeOf(limited.finishSignIn(randomUUID(), '{}', address))).toBe('BAD_USER_INPUT');
    expect(await codeOf(limited.finishSignIn(randomUUID(), '{}', address))).toBe('RATE_LIMITED');
  });
});
