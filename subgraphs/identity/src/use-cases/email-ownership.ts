import { randomInt, randomUUID } from 'node:crypto';
import {
  badInput,
  conflict,
  enqueueJob,
  isUniqueViolation,
  mailWebUrl,
  rateLimited,
  unauthenticated,
  type FailureLimiter,
  type LimitKey,
  type Logger,
  type Persistence,
  type Principal,
  type SessionRevocations,
  type Tx,
} from '@vibestream/platform';
import type { IdentityConfig } from '../config.ts';
import { UserContactChanged } from '../events.ts';
import {
  EMAIL_TOKEN_PURPOSES,
  RESETTING_PURPOSES,
  VERIFYING_PURPOSES,
  canConsume,
  checkNewPassword,
  emailLink,
  hashEmailToken,
  isWellFormedEmailToken,
  newEmailToken,
  type EmailTokenPurpose,
} from '../domain/email-tokens.ts';
import { MAX_PASSWORD_LENGTH, normalizeEmail, validEmail } from '../domain/registration.ts';
import { hashPassword, verifyPassword } from '../domain/password.ts';
import { MAIL_JOB, PASSWORD_RESET_JOB, type IdentityMail, type PasswordResetRequest } from '../email-mails.ts';
import type { SessionResult } from '../service.ts';
import * as store from '../store.ts';
import type { User } from '../store.ts';

/** What this module needs of identity's other use cases: a session after a reset, the sign-in limiter's reset. */
export interface Sessions {
  startSession(tx: Tx, user: User, familyId: string): Promise<SessionResult>;
  clearLoginFailures(emailNormalized: string): Promise<void>;
}

const invalidLink = () => badInput('This link is invalid, was already used or has expired; ask for a new one', 'token');
/**
 * A reset request's job runs this long after the answer (plus up to as much again, at random), so
 * the work only an existing account causes (a token, a rendered mail, SMTP) never competes with the
 * answer's own time in this process.
 */
const RESET_JOB_DELAY_MS = 1_000;
/** Accounts get an access token for up to this much longer than the configured lifetime (clock skew). */
const ACCESS_TOKEN_SLACK_SECONDS = 60;

/**
 * Email ownership and recovery: verifying the account's email, resetting a forgotten password,
 * changing the email (unverified again until its link is used). Each link carries a single-use
 * token (src/domain/email-tokens.ts); mails are jobs of the context's queue, sent by its worker.
 */
export class EmailOwnership {
  private readonly db: Persistence;
  private readonly config: IdentityConfig;
  private readonly sessions: Sessions;
  private readonly limiter: FailureLimiter;
  private readonly revocations: SessionRevocations;
  private readonly log: Logger;

  constructor(deps: {
    db: Persistence;
    config: IdentityConfig;
    sessions: Sessions;
    /** Counts requests in EMAIL_LIMIT_WINDOW_SECONDS (the platform's limiter; a request is never released). */
    limiter: FailureLimiter;
    revocations: SessionRevocations;
    log: Logger;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.sessions = deps.sessions;
    this.limiter = deps.limiter;
    this.revocations = deps.revocations;
    this.log = deps.log;
  }

  /**
   * Sends a verification link to the account's email. An email already verified answers true and
   * sends nothing (nor counts against the limit).
   */
  async requestEmailVerification(principal: Principal): Promise<boolean> {
    const user = await store.userById(this.db.reader(), principal.userId);
    if (!user) throw unauthenticated('This account no longer exists');
    if (user.emailVerifiedAt) return true;
    await this.admit([{ key: `email-verify:user:${user.id}`, limit: this.config.EMAIL_VERIFICATION_MAX_PER_USER }], 'verification links');
    await this.db.useCase(async (tx) => {
      const current = await store.lockUser(tx, principal.userId);
      if (!current) throw unauthenticated('This account no longer exists');
      if (!current.emailVerifiedAt) await this.sendLink(tx, current, 'verify_email');
    });
    return true;
  }

  /** Uses a verification link's token: the email it was sent to is verified, if it is still the account's. */
  async verifyEmail(token: string): Promise<User> {
    if (!isWellFormedEmailToken(token)) throw invalidLink();
    return this.db.useCase(async (tx) => {
      const used = await store.consumeEmailToken(tx, hashEmailToken(token), VERIFYING_PURPOSES);
      if (!used) throw invalidLink();
      const user = await store.lockUser(tx, used.userId);
      // Thrown, so the token is not used up: the transaction rolls back.
      if (!user || user.emailNormalized !== used.emailNormalized) throw badInput('This link is for an email address the account no longer uses', 'token');
      const verified = await store.markEmailVerified(tx, user.id, used.emailNormalized);
      if (!verified) return user;
      this.recordContact(tx, verified);
      return verified;
    });
  }

  /**
   * Anyone: always true, whether or not the email has an account. The request does the same work
   * either way (counts it, enqueues one job); the job's handler looks the account up and mails a
   * link only if there is one.
   */
  async requestPasswordReset(email: string, clientAddress: string): Promise<boolean> {
    const valid = validEmail(email);
    if (!valid) throw badInput('email is not a valid email address', 'email');
    const emailNormalized = normalizeEmail(valid);
    await this.admit(
      [
        { key: `password-reset:email:${emailNormalized}`, limit: this.config.PASSWORD_RESET_MAX_PER_EMAIL },
        { key: `password-reset:addr:${clientAddress}`, limit: this.config.PASSWORD_RESET_MAX_PER_ADDRESS },
      ],
      'password resets',
    );
    const request: PasswordResetRequest = { emailNormalized };
    await this.db.useCase((tx) =>
      enqueueJob(tx, {
        kind: PASSWORD_RESET_JOB,
        key: `password-reset:${randomUUID()}`,
        payload: { ...request },
        runAt: new Date(Date.now() + RESET_JOB_DELAY_MS + randomInt(RESET_JOB_DELAY_MS)),
        redactOnSuccess: true,
      }),
    );
    return true;
  }

  /** The password-reset job: mails a link when the email has an account, and does nothing otherwise. */
  async mailPasswordReset(request: PasswordResetRequest): Promise<void> {
    await this.db.useCase(async (tx) => {
      const user = await store.userByEmail(tx, request.emailNormalized);
      if (user) await this.sendLink(tx, user, 'reset_password');
    });
  }

  /**
   * Sets a new password with a reset link's token, ends every session of the account (refresh
   * tokens, and access tokens through the session revocations), forgets its failed sign-ins, and
   * signs in afresh. The link proved the address too: an unverified email becomes verified.
   */
  async resetPassword(token: string, newPassword: string): Promise<SessionResult> {
    if (!isWellFormedEmailToken(token)) throw invalidLink();
    const password = checkNewPassword(newPassword);
    if (!password.ok) throw badInput(password.message, 'newPassword');
    const tokenHash = hashEmailToken(token);
    // Refused before the slow hash; the consuming UPDATE below is what decides.
    if (!canConsume(await store.emailTokenState(this.db.reader(), tokenHash), RESETTING_PURPOSES, new Date())) throw invalidLink();
    const passwordHash = await hashPassword(newPassword, this.config.PASSWORD_SCRYPT_LOG2N);

    const outcome = await this.db.useCase(async (tx) => {
      const used = await store.consumeEmailToken(tx, tokenHash, RESETTING_PURPOSES);
      if (!used) throw invalidLink();
      const user = await store.lockUser(tx, used.userId);
      if (!user || user.emailNormalized !== used.emailNormalized) throw badInput('This link is for an email address the account no longer uses', 'token');
      const withPassword = await store.setPasswordHash(tx, user.id, passwordHash);
      if (!withPassword) throw new Error('update users: the statement returned no row');
      // The link reached the account's inbox: that proves the address as a verification link would.
      const verified = await store.markEmailVerified(tx, user.id, used.emailNormalized);
      if (verified) this.recordContact(tx, verified);
      const updated = verified ?? withPassword;
      await store.retireEmailTokens(tx, user.id, RESETTING_PURPOSES);
      const sessions = await store.revokeAllSessions(tx, user.id, this.config.ACCESS_TOKEN_TTL_SECONDS + ACCESS_TOKEN_SLACK_SECONDS);
      const session = await this.sessions.startSession(tx, updated, randomUUID());
      return { session, sessions };
    });

    // After the commit: the refresh tokens are revoked, so these sessions get no new access token.
    const until = Math.ceil(Date.now() / 1000) + this.config.ACCESS_TOKEN_TTL_SECONDS + ACCESS_TOKEN_SLACK_SECONDS;
    const revoked = await Promise.allSettled(outcome.sessions.map((sessionId) => this.revocations.revoke(sessionId, until)));
    const failed = revoked.filter((r) => r.status === 'rejected').length;
    if (failed > 0) {
      this.log.error(
        { userId: outcome.session.user.id, failed },
        'password reset: some sessions could not be revoked everywhere; their access tokens work until they expire',
      );
    }
    await this.sessions.clearLoginFailures(outcome.session.user.emailNormalized);
    return outcome.session;
  }

  /**
   * Moves the account to a new email, unverified until the link mailed to it is used; a notice
   * goes to the old address. The current password is required (BAD_USER_INPUT when wrong).
   */
  async changeEmail(principal: Principal, newEmail: string, currentPassword: string): Promise<User> {
    const valid = validEmail(newEmail);
    if (!valid) throw badInput('newEmail is not a valid email address', 'newEmail');
    await this.admit([{ key: `email-change:user:${principal.userId}`, limit: this.config.EMAIL_CHANGE_MAX_PER_USER }], 'email changes');
    const user = await store.userById(this.db.reader(), principal.userId);
    if (!user) throw unauthenticated('This account no longer exists');
    const passwordOk = currentPassword.length <= MAX_PASSWORD_LENGTH && (await verifyPassword(currentPassword, user.passwordHash));
    if (!passwordOk) throw badInput('currentPassword is not the account’s password', 'currentPassword');
    const emailNormalized = normalizeEmail(valid);
    if (emailNormalized === user.emailNormalized) throw badInput('newEmail is already the account’s email', 'newEmail');
    const inUse = () => conflict('Another account uses this email');
    if (await store.userByEmail(this.db.reader(), emailNormalized)) throw inUse();

    try {
      const changed = await this.db.useCase(async (tx) => {
        const before = await store.lockUser(tx, principal.userId);
        if (!before) throw unauthenticated('This account no longer exists');
        // Two accounts moving to one address at once: the unique index lets one through.
        const after = await store.changeEmail(tx, before.id, valid, emailNormalized);
        if (!after) throw new Error('update users: the statement returned no row');
        await store.retireEmailTokens(tx, before.id, EMAIL_TOKEN_PURPOSES);
        await this.sendLink(tx, after, 'change_email');
        const notice: IdentityMail = { template: 'email-changed', to: before.email, displayName: after.displayName, newEmail: after.email };
        await enqueueJob(tx, { kind: MAIL_JOB, key: `mail:email-changed:${after.id}:${after.contactVersion}`, payload: { ...notice }, redactOnSuccess: true });
        this.recordContact(tx, after);
        return after;
      });
      return changed;
    } catch (error) {
      if (isUniqueViolation(error, 'users_email_normalized_key')) throw inUse();
      throw error;
    }
  }

  /** A new token for the user's current email, and the mail that carries its link. */
  private async sendLink(tx: Tx, user: User, purpose: EmailTokenPurpose): Promise<void> {
    const token = newEmailToken();
    const id = randomUUID();
    const reset = purpose === 'reset_password';
    const ttlSeconds = reset ? this.config.PASSWORD_RESET_TTL_SECONDS : this.config.EMAIL_VERIFICATION_TTL_SECONDS;
    await store.insertEmailToken(tx, { id, userId: user.id, purpose, tokenHash: hashEmailToken(token), emailNormalized: user.emailNormalized, ttlSeconds });
    const mail: IdentityMail = {
      template: reset ? 'reset-password' : purpose === 'change_email' ? 'confirm-new-email' : 'verify-email',
      to: user.email,
      displayName: user.displayName,
      link: emailLink(mailWebUrl(this.config), reset ? 'reset-password' : 'verify-email', token),
      expiresInSeconds: ttlSeconds,
    };
    // The payload holds the link: cleared from the table once the mail is sent.
    await enqueueJob(tx, { kind: MAIL_JOB, key: `mail:${id}`, payload: { ...mail }, redactOnSuccess: true });
  }

  private recordContact(tx: Tx, user: User): void {
    tx.outbox.record(UserContactChanged, {
      userId: user.id,
      email: user.email,
      emailVerified: user.emailVerifiedAt !== null,
      displayName: user.displayName,
      version: user.contactVersion,
      changedAt: new Date().toISOString(),
    });
  }

  /** Counts the request against each key; RATE_LIMITED (with Retry-After) when one is at its limit. */
  private async admit(keys: LimitKey[], what: string): Promise<void> {
    const attempt = await this.limiter.reserve(keys);
    if (!attempt.admitted) throw rateLimited(`Too many ${what} asked for; try again in ${attempt.retryAfterSeconds} seconds`, attempt.retryAfterSeconds);
  }
}
