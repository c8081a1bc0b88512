// Email ownership and recovery on identity's own schema: no gateway, no HTTP, no worker (the mail
// jobs stay queued, and the tests read their links from the jobs table, as the worker would). The
// mails themselves, the worker and the whole path through the gateway with a real SMTP server are in
// email-ownership.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySessionRevocations, createFailureLimiter, generateSigningKeys } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { UserContactChanged } from '@vibestream/contracts/identity';
import { loadIdentityConfig, type IdentityConfig } from '../src/config.ts';
import { MAIL_JOB, PASSWORD_RESET_JOB, IdentityMail } from '../src/email-mails.ts';
import { migrations } from '../src/migrations.ts';
import type { IdentityService } from '../src/service.ts';
import * as store from '../src/store.ts';
import { EmailOwnership } from '../src/use-cases/email-ownership.ts';
import { fanPrincipal, identityServiceOf } from './helpers.ts';

let h: ContextHarness;
let db: pg.Client;
let config: IdentityConfig;
let identity: IdentityService;
let email: EmailOwnership;
let revocations: MemorySessionRevocations;

beforeAll(async () => {
  h = await openContext({ name: 'identity', migrations });
  config = loadIdentityConfig({
    DATABASE_URL: h.database.url,
    JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem,
    PASSWORD_SCRYPT_LOG2N: '12',
    PUBLIC_URL: 'https://vibestream.test',
    EMAIL_VERIFICATION_MAX_PER_USER: '3',
    PASSWORD_RESET_MAX_PER_EMAIL: '3',
    PASSWORD_RESET_MAX_PER_ADDRESS: '50',
  });
  revocations = new MemorySessionRevocations();
  identity = await identityServiceOf(h, config, {
    limiter: createFailureLimiter(null, 'identity-email-tests:', config.LOGIN_FAILURE_WINDOW_SECONDS),
    revocations,
  });
  email = new EmailOwnership({
    db: h.db,
    config,
    sessions: identity,
    limiter: createFailureLimiter(null, 'identity-email-tests:', config.EMAIL_LIMIT_WINDOW_SECONDS),
    revocations,
    log: h.log,
  });
  db = new pg.Client({ connectionString: h.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await revocations?.close();
  await h?.close();
});

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'OK',
    (e: { extensions?: { code?: string } }) => e.extensions?.code ?? String(e),
  );

let accounts = 0;
/** A registered account (as register makes it) and the Principal of its session. */
async function newAccount(password = 'a-long-password') {
  const address = `person-${++accounts}-${randomUUID().slice(0, 8)}@example.com`;
  const session = await identity.register({ email: address, password, displayName: `Person ${accounts}` });
  const principal = fanPrincipal(session.user.id);
  return { address, password, session, principal, id: session.user.id };
}

/** The queued mail jobs to `to`, oldest first, their payloads parsed. */
async function mailsTo(to: string): Promise<IdentityMail[]> {
  const found = await db.query<{ payload: unknown }>(`select payload from identity.jobs where kind = $1 and payload->>'to' = $2 order by id`, [MAIL_JOB, to]);
  return found.rows.map((r) => IdentityMail.parse(r.payload));
}

function tokenOf(mail: IdentityMail | undefined): string {
  if (!mail || !('link' in mail)) throw new Error('no link in the mail');
  const token = new URL(mail.link).searchParams.get('token');
  if (!token) throw new Error('no token in the link');
  return token;
}

const contactEvents = async (userId: string) =>
  (await h.recorded(UserContactChanged.type))
    .filter((e) => e.payload.userId === userId)
    .map((e) => e.payload as { version: number; email: string; emailVerified: boolean });

describe('email verification', () => {
  it('mails a single-use link into the web app; verifying it marks the email verified and publishes contact_changed version 2', async () => {
    const a = await newAccount();
    expect(await email.requestEmailVerification(a.principal)).toBe(true);
    const [mail] = await mailsTo(a.address);
    expect(mail).toMatchObject({ template: 'verify-email', to: a.address, displayName: a.session.user.displayName, expiresInSeconds: 86_400 });
    const link = new URL((mail as { link: string }).link);
    expect(`${link.origin}${link.pathname}`).toBe('https://vibestream.test/verify-email');
    const token = tokenOf(mail);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Only the hash is stored.
    const stored = await db.query(`select token_hash from identity.email_tokens where user_id = $1`, [a.id]);
    expect(stored.rows).toHaveLength(1);
    expect(JSON.stringify(stored.rows)).not.toContain(token);

    const verified = await email.verifyEmail(token);
    expect(verified.id).toBe(a.id);
    expect(verified.emailVerifiedAt).toBeInstanceOf(Date);
    expect(await codeOf(email.verifyEmail(token))).toBe('BAD_USER_INPUT');
    expect((await contactEvents(a.id)).map((e) => [e.version, e.emailVerified])).toEqual([
      [1, false],
      [2, true],
    ]);

    // Already verified: true, nothing sent.
    expect(await email.requestEmailVerification(a.principal)).toBe(true);
    expect(await mailsTo(a.address)).toHaveLength(1);
  });

  it('refuses malformed, unknown and wrong-purpose tokens with BAD_USER_INPUT before or without using them', async () => {
    for (const bad of ['', 'short', 'x'.repeat(43) + '=', '%'.repeat(43), 'a'.repeat(10_000), 'A'.repeat(43)]) {
      expect(await codeOf(email.verifyEmail(bad)), bad.slice(0, 20)).toBe('BAD_USER_INPUT');
      expect(await codeOf(email.resetPassword(bad, 'a-new-long-password')), bad.slice(0, 20)).toBe('BAD_USER_INPUT');
    }
    const a = await newAccount();
    await email.requestEmailVerification(a.principal);
    const verifyToken = tokenOf((await mailsTo(a.address))[0]);
    // A verification token does not reset a password (and is not used up by trying).
    expect(await codeOf(email.resetPassword(verifyToken, 'a-new-long-password'))).toBe('BAD_USER_INPUT');
    expect((await email.verifyEmail(verifyToken)).emailVerifiedAt).not.toBeNull();
  });

  it('refuses an expired token', async () => {
    const a = await newAccount();
    await email.requestEmailVerification(a.principal);
    const token = tokenOf((await mailsTo(a.address))[0]);
    await db.query(`update identity.email_tokens set expires_at = now() - interval '1 second' where user_id = $1`, [a.id]);
    expect(await codeOf(email.verifyEmail(token))).toBe('BAD_USER_INPUT');
  });

  it(`is RATE_LIMITED after ${3} requests per window, with a retry-after`, async () => {
    const a = await newAccount();
    for (let i = 0; i < 3; i++) expect(await email.requestEmailVerification(a.principal)).toBe(true);
    const refused = await email.requestEmailVerification(a.principal).catch((e: { extensions: Record<string, unknown> }) => e.extensions);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED' });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(3500);
    expect(await mailsTo(a.address)).toHaveLength(3);
    // Another user is not limited by this one.
    expect(await email.requestEmailVerification((await newAccount()).principal)).toBe(true);
  });

  it('concurrent uses of one token: exactly one verifies', async () => {
    const a = await newAccount();
    await email.requestEmailVerification(a.principal);
    const token = tokenOf((await mailsTo(a.address))[0]);
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => codeOf(email.verifyEmail(token))));
    expect(outcomes.filter((o) => o === 'OK')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'BAD_USER_INPUT')).toHaveLength(5);
    expect((await contactEvents(a.id)).map((e) => e.version)).toEqual([1, 2]);
  });
});

describe('password reset', () => {
  it('always answers true; only an existing account gets a link (mailed by the job, not the request)', async () => {
    const a = await newAccount();
    const unknown = `nobody-${randomUUID()}@example.com`;
    expect(await email.requestPasswordReset(unknown, '198.51.100.1')).toBe(true);
    expect(await email.requestPasswordReset(a.address.toUpperCase(), '198.51.100.1')).toBe(true);
    // The request enqueued the same job for both, holding only the normalized email.
    const requests = await db.query<{ payload: { emailNormalized: string } }>(`select payload from identity.jobs where kind = $1 order by id desc limit 2`, [
      PASSWORD_RESET_JOB,
    ]);
    expect(requests.rows.map((r) => r.payload.emailNormalized).sort()).toEqual([a.address, unknown].sort());
    expect(await mailsTo(a.address)).toHaveLength(0);

    for (const r of requests.rows) await email.mailPasswordReset(r.payload);
    expect(await mailsTo(unknown)).toHaveLength(0);
    const [mail] = await mailsTo(a.address);
    expect(mail).toMatchObject({ template: 'reset-password', expiresInSeconds: 3600 });
    expect(new URL((mail as { link: string }).link).pathname).toBe('/reset-password');
  });

  it('resets once: new password works, old fails, every session ends (refresh tokens and access tokens), login failures cleared', async () => {
    const a = await newAccount();
    const other = await identity.login(a.address, a.password, '192.0.2.1');
    const reset = await resetLink(a.address);

    // Two concurrent resets with the same token: exactly one wins.
    const outcomes = await Promise.all([email.resetPassword(reset, 'new-password-one'), email.resetPassword(reset, 'new-password-two')].map(codeOf));
    expect(outcomes.sort()).toEqual(['BAD_USER_INPUT', 'OK']);
    const now = await store.userById(h.db.reader(), a.id);
    const winner = (await import('../src/domain/password.ts')).verifyPassword;
    const which = (await winner('new-password-one', now!.passwordHash)) ? 'new-password-one' : 'new-password-two';

    expect(await codeOf(identity.login(a.address, a.password, '192.0.2.2'))).toBe('UNAUTHENTICATED');
    expect(await codeOf(identity.login(a.address, which, '192.0.2.3'))).toBe('OK');
    expect(await codeOf(identity.refresh(a.session.refreshToken))).toBe('UNAUTHENTICATED');
    expect(await codeOf(identity.refresh(other.refreshToken))).toBe('UNAUTHENTICATED');
    // The access tokens of both earlier sessions are revoked everywhere (the verifier asks `revocations`).
    const sessionsOf = await db.query<{ family_id: string }>(`select distinct family_id from identity.refresh_tokens where user_id = $1`, [a.id]);
    const revoked = sessionsOf.rows.filter((r) => revocations.isRevoked(r.family_id));
    expect(revoked.length).toBe(2);
  });

  it('answers a new session that works, and clears the failed sign-ins of the email', async () => {
    const a = await newAccount();
    for (let i = 0; i < config.LOGIN_MAX_FAILURES_PER_EMAIL; i++) await codeOf(identity.login(a.address, 'wrong-password', `203.0.113.${i}`));
    expect(await codeOf(identity.login(a.address, a.password, '203.0.113.99'))).toBe('RATE_LIMITED');
    const session = await email.resetPassword(await resetLink(a.address), 'brand-new-password');
    expect(session.user.id).toBe(a.id);
    // The link proved the address: verified, and published as contact version 2.
    expect(session.user.emailVerifiedAt).toBeInstanceOf(Date);
    expect((await contactEvents(a.id)).map((e) => [e.version, e.emailVerified])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(await codeOf(identity.refresh(session.refreshToken))).toBe('OK');
    expect(await codeOf(identity.login(a.address, 'brand-new-password', '203.0.113.100'))).toBe('OK');
  });

  it('refuses a short password (BAD_USER_INPUT) without using the token; refuses an expired token', async () => {
    const a = await newAccount();
    const token = await resetLink(a.address);
    expect(await codeOf(email.resetPassword(token, 'short'))).toBe('BAD_USER_INPUT');
    await db.query(`update identity.email_tokens set expires_at = now() where user_id = $1 and purpose = 'reset_password'`, [a.id]);
    expect(await codeOf(email.resetPassword(token, 'long-enough-password'))).toBe('BAD_USER_INPUT');
  });

  it('is RATE_LIMITED per email (any case) and per client address', async () => {
    const target = `limited-${randomUUID()}@example.com`;
    for (let i = 0; i < 3; i++) expect(await email.requestPasswordReset(i % 2 ? target.toUpperCase() : target, `198.51.100.${10 + i}`)).toBe(true);
    expect(await codeOf(email.requestPasswordReset(target, '198.51.100.20'))).toBe('RATE_LIMITED');
    const address = '198.51.100.77';
    const results = [];
    for (let i = 0; i < 51; i++) results.push(await codeOf(email.requestPasswordReset(`spray-${i}-${randomUUID()}@example.com`, address)));
    expect(results.filter((r) => r === 'OK')).toHaveLength(50);
    expect(results.at(-1)).toBe('RATE_LIMITED');
    expect(await codeOf(email.requestPasswordReset('not an email', address))).toBe('BAD_USER_INPUT');
  });
});

describe('change of email', () => {
  it('moves the account at once, unverified; the link goes to the new address, a notice to the old; versions increase', async () => {
    const a = await newAccount();
    await email.requestEmailVerification(a.principal);
    const oldToken = tokenOf((await mailsTo(a.address))[0]);
    await email.verifyEmail(oldToken);
    const fresh = `moved-${randomUUID()}@example.com`;
    const changed = await email.changeEmail(a.principal, `  ${fresh.toUpperCase()} `, a.password);
    expect(changed).toMatchObject({ email: fresh.toUpperCase(), emailNormalized: fresh, emailVerifiedAt: null, contactVersion: 3 });

    const [notice] = (await mailsTo(a.address)).filter((m) => m.template === 'email-changed');
    expect(notice).toMatchObject({ template: 'email-changed', newEmail: fresh.toUpperCase() });
    const [confirm] = await mailsTo(fresh.toUpperCase());
    expect(confirm).toMatchObject({ template: 'confirm-new-email' });
    expect((await email.verifyEmail(tokenOf(confirm))).emailVerifiedAt).not.toBeNull();
    expect((await contactEvents(a.id)).map((e) => [e.version, e.email, e.emailVerified])).toEqual([
      [1, a.address, false],
      [2, a.address, true],
      [3, fresh.toUpperCase(), false],
      [4, fresh.toUpperCase(), true],
    ]);
    // Signs in with the new address.
    expect(await codeOf(identity.login(fresh, a.password, '192.0.2.50'))).toBe('OK');
  });

  it('retires links mailed before the change: a verification link and a reset link to the old address stop working', async () => {
    const a = await newAccount();
    await email.requestEmailVerification(a.principal);
    const verifyOld = tokenOf((await mailsTo(a.address))[0]);
    const resetOld = await resetLink(a.address);
    await email.changeEmail(a.principal, `elsewhere-${randomUUID()}@example.com`, a.password);
    expect(await codeOf(email.verifyEmail(verifyOld))).toBe('BAD_USER_INPUT');
    expect(await codeOf(email.resetPassword(resetOld, 'another-long-password'))).toBe('BAD_USER_INPUT');
  });

  it('refuses a wrong password, a malformed or identical email (BAD_USER_INPUT), an address in use (CONFLICT)', async () => {
    const a = await newAccount();
    const b = await newAccount();
    expect(await codeOf(email.changeEmail(a.principal, `x-${randomUUID()}@example.com`, 'wrong-password'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(email.changeEmail(a.principal, 'not-an-email', a.password))).toBe('BAD_USER_INPUT');
    expect(await codeOf(email.changeEmail(a.principal, a.address.toUpperCase(), a.password))).toBe('BAD_USER_INPUT');
    expect(await codeOf(email.changeEmail(a.principal, b.address.toUpperCase(), a.password))).toBe('CONFLICT');
    expect(await codeOf(email.changeEmail(a.principal, `x-${randomUUID()}@example.com`, 'p'.repeat(100_000)))).toBe('BAD_USER_INPUT');
    // Five attempts counted (the malformed email was refused before counting): the sixth is refused.
    expect(await codeOf(email.changeEmail(a.principal, `x-${randomUUID()}@example.com`, 'wrong-again'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(email.changeEmail(a.principal, `x-${randomUUID()}@example.com`, a.password))).toBe('RATE_LIMITED');
  });

  it('two accounts moving to one address at once: one gets it, the other CONFLICT', async () => {
    const a = await newAccount();
    const b = await newAccount();
    const contested = `contested-${randomUUID()}@example.com`;
    const outcomes = await Promise.all(
      [email.changeEmail(a.principal, contested, a.password), email.changeEmail(b.principal, contested, b.password)].map(codeOf),
    );
    expect(outcomes.sort()).toEqual(['CONFLICT', 'OK']);
  });
});

/** Asks for a reset as the API does, runs the reset job as the worker would, and answers the mailed link's token. */
async function resetLink(address: string): Promise<string> {
  await email.requestPasswordReset(address, '192.0.2.200');
  const [request] = (
    await db.query<{ payload: { emailNormalized: string } }>(`select payload from identity.jobs where kind = $1 order by id desc limit 1`, [PASSWORD_RESET_JOB])
  ).rows;
  await email.mailPasswordReset(request!.payload);
  return tokenOf((await mailsTo(address)).filter((m) => m.template === 'reset-password').at(-1));
}
