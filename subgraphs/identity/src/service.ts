import { randomBytes, randomUUID } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  forbidden,
  isUniqueViolation,
  notFound,
  rateLimited,
  unauthenticated,
  type FailureLimiter,
  type Logger,
  type Persistence,
  type Principal,
  type SessionRevocations,
  type Tx,
  isUuid,
} from '@vibestream/platform';
import type { IdentityConfig } from './config.ts';
import { UserContactChanged, UserRegistered, UserRolesChanged, WalletLinked } from './events.ts';
import { hashPassword, verifyPassword } from './domain/password.ts';
import { checkRegistration, normalizeEmail, normalizeRoles, type RegistrationInput } from './domain/registration.ts';
import { decideRefresh, hashRefreshToken, newRefreshToken } from './domain/tokens.ts';
import { MAX_WALLETS_PER_USER, challengeMessage, isValidWalletSignature, normalizeAddress, type Chain } from './domain/wallet.ts';
import * as store from './store.ts';
import type { User, Wallet } from './store.ts';
import type { TokenIssuer } from './token-issuer.ts';

export interface SessionResult {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  user: User;
}

export type SessionTokensResult = Omit<SessionResult, 'user'>;

const invalidCredentials = () => unauthenticated('Invalid email or password');

const returned = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what}: the statement returned no row`);
  return value;
};

/** Identity's use cases. Each change runs through `db.useCase`, its events in that transaction's outbox; the SQL is in store.ts. */
export class IdentityService {
  private readonly db: Persistence;
  private readonly config: IdentityConfig;
  private readonly issuer: TokenIssuer;
  private readonly limiter: FailureLimiter;
  private readonly revocations: SessionRevocations;
  private readonly log: Logger;
  /** Hashing a dummy password for unknown emails keeps their timing like a wrong password's. */
  private dummyHash: Promise<string> | null = null;

  constructor(deps: { db: Persistence; config: IdentityConfig; issuer: TokenIssuer; limiter: FailureLimiter; revocations: SessionRevocations; log: Logger }) {
    this.db = deps.db;
    this.config = deps.config;
    this.issuer = deps.issuer;
    this.limiter = deps.limiter;
    this.revocations = deps.revocations;
    this.log = deps.log;
  }

  async register(input: RegistrationInput): Promise<SessionResult> {
    const check = checkRegistration(input);
    if (!check.ok) throw check.reason === 'forbidden-role' ? forbidden(check.message) : badInput(check.message, `input.${check.field}`);
    if (await store.userByEmail(this.db.reader(), check.emailNormalized)) throw conflict('An account with this email already exists');
    const passwordHash = await hashPassword(input.password, this.config.PASSWORD_SCRYPT_LOG2N);
    try {
      return await this.db.useCase(async (tx) => {
        const user = returned(
          await store.insertUser(tx, {
            id: randomUUID(),
            email: check.email,
            emailNormalized: check.emailNormalized,
            passwordHash,
            displayName: check.displayName,
            roles: [check.role],
            createdAt: new Date(),
          }),
          'insert into users',
        );
        tx.outbox.record(UserRegistered, {
          userId: user.id,
          displayName: user.displayName,
          roles: user.roles,
          registeredAt: user.createdAt.toISOString(),
        });
        tx.outbox.record(UserContactChanged, {
          userId: user.id,
          email: user.email,
          emailVerified: false,
          displayName: user.displayName,
          version: 1,
          changedAt: user.createdAt.toISOString(),
        });
        return this.startSession(tx, user, randomUUID());
      });
    } catch (error) {
      if (isUniqueViolation(error, 'users_email_normalized_key')) throw conflict('An account with this email already exists');
      throw error;
    }
  }

  async login(email: string, password: string, clientAddress: string): Promise<SessionResult> {
    const emailNormalized = normalizeEmail(email);
    const keys = [
      { key: `login:email:${emailNormalized}`, limit: this.config.LOGIN_MAX_FAILURES_PER_EMAIL },
      { key: `login:addr:${clientAddress}`, limit: this.config.LOGIN_MAX_FAILURES_PER_ADDRESS },
    ];
    // Counted as a failure before the hash, so concurrent attempts cannot all pass the check.
    const attempt = await this.limiter.reserve(keys);
    if (!attempt.admitted) {
      const wait = attempt.retryAfterSeconds;
      throw rateLimited(`Too many failed sign-in attempts; try again in ${wait} seconds`, wait);
    }

    const user = await store.userByEmail(this.db.reader(), emailNormalized);
    const passwordOk = user
      ? await verifyPassword(password, user.passwordHash)
      : await verifyPassword(password, await this.dummyPasswordHash()).then(() => false);
    if (!user || !passwordOk) throw invalidCredentials();
    await attempt.release();
    await this.limiter.reset(keys.slice(0, 1));
    return this.db.useCase((tx) => this.startSession(tx, user, randomUUID()));
  }

  /** Forgets the failed sign-ins counted against this email (after a password reset). */
  clearLoginFailures(emailNormalized: string): Promise<void> {
    return this.limiter.reset([{ key: `login:email:${emailNormalized}`, limit: this.config.LOGIN_MAX_FAILURES_PER_EMAIL }]);
  }

  async refresh(presented: string): Promise<SessionTokensResult> {
    const outcome = await this.db.useCase(async (tx) => {
      const token = await store.lockRefreshToken(tx, hashRefreshToken(presented));
      const decision = decideRefresh(token ? { usedAt: token.usedAt, revokedAt: token.revokedAt, expiresAt: token.expiresAt } : null, new Date());
      if (decision === 'reused' && token) {
        // A rotated token came back: someone holds a copy. End every session of the family.
        await store.revokeFamily(tx, token.familyId);
        this.log.warn({ familyId: token.familyId, userId: token.userId }, 'refresh token reuse: session family revoked');
        return { ok: false as const, revokedFamily: token.familyId };
      }
      if (decision !== 'rotate' || !token) return { ok: false as const, revokedFamily: null };
      await store.markRefreshTokenUsed(tx, token.id);
      const user = returned(await store.userById(tx, token.userId), "the refresh token's user");
      return { ok: true as const, session: await this.startSession(tx, user, token.familyId) };
    });
    // Thrown after the commit, so a reuse's revocation is kept.
    if (!outcome.ok) {
      if (outcome.revokedFamily) await this.revokeAccessTokens(outcome.revokedFamily);
      throw unauthenticated('Refresh token is invalid, expired or revoked');
    }
    return outcome.session;
  }

  async logout(principal: Principal): Promise<boolean> {
    const revoked = await this.db.useCase((tx) => store.revokeSession(tx, principal.sessionId, principal.userId));
    // Also when nothing was left to revoke here: a retry after a failed broadcast completes it.
    await this.revokeAccessTokens(principal.sessionId);
    return revoked > 0;
  }

  /**
   * Ends a session's outstanding access tokens everywhere. Its refresh tokens are revoked first,
   * so it gets no new ones: each it has expires within one access-token lifetime from now.
   */
  private revokeAccessTokens(sessionId: string): Promise<void> {
    return this.revocations.revoke(sessionId, Math.ceil(Date.now() / 1000) + this.config.ACCESS_TOKEN_TTL_SECONDS);
  }

  async walletChallenge(principal: Principal, chain: Chain, rawAddress: string) {
    const address = normalizeAddress(chain, rawAddress);
    if (!address) throw badInput(`address is not a valid ${chain === 'ETHEREUM' ? 'Ethereum' : 'Solana'} address`, 'address');
    const publicUrl = new URL(this.config.PUBLIC_URL);
    const issuedAt = new Date();
    const expiresAt = new Date(issuedAt.getTime() + this.config.WALLET_CHALLENGE_TTL_SECONDS * 1000);
    // A valid token may outlive its account; the challenge row would then violate its foreign key.
    if (!(await store.userById(this.db.reader(), principal.userId))) throw unauthenticated('This account no longer exists');
    const nonce = randomBytes(12).toString('hex');
    const message = challengeMessage({ chain, address, domain: publicUrl.host, uri: publicUrl.origin, nonce, issuedAt, expiresAt });
    await this.db.useCase((tx) =>
      store.insertChallenge(tx, { id: randomUUID(), userId: principal.userId, chain, address, nonce, message, createdAt: issuedAt, expiresAt }),
    );
    return { message, expiresAt };
  }

  async linkWallet(principal: Principal, chain: Chain, rawAddress: string, signature: string): Promise<Wallet> {
    const address = normalizeAddress(chain, rawAddress);
    if (!address) throw badInput(`address is not a valid ${chain === 'ETHEREUM' ? 'Ethereum' : 'Solana'} address`, 'address');
    const candidates = await store.challengesFor(this.db.reader(), principal.userId, chain, address, 10);
    if (candidates.length === 0) throw badInput('No challenge was issued for this wallet; request one with walletChallenge', 'signature');
    const signed = candidates.find((c) => isValidWalletSignature(chain, address, c.message, signature));
    if (!signed) throw badInput('The signature does not match a challenge for this wallet', 'signature');
    if (signed.usedAt) throw badInput('This challenge was already used; request a new one', 'signature');
    if (signed.expiresAt.getTime() <= Date.now()) throw badInput('This challenge has expired; request a new one', 'signature');

    try {
      return await this.db.useCase(async (tx) => {
        if (!(await store.claimChallenge(tx, signed.id))) throw badInput('This challenge was already used; request a new one', 'signature');
        const owner = await store.walletByAddress(tx, chain, address);
        if (owner && owner.userId !== principal.userId) throw conflict('This wallet is linked to another account');
        if (owner) return owner;
        // The user's row lock serialises their links, so concurrent ones cannot pass the cap together.
        await store.lockUser(tx, principal.userId);
        if ((await store.walletCountOf(tx, principal.userId)) >= MAX_WALLETS_PER_USER) {
          throw conflict(`You already have ${MAX_WALLETS_PER_USER} wallets linked, the most an account may; this one was not linked`);
        }
        const created = returned(
          await store.insertWallet(tx, { id: randomUUID(), userId: principal.userId, chain, address, linkedAt: new Date() }),
          'insert into wallets',
        );
        tx.outbox.record(WalletLinked, { userId: principal.userId, chain, address });
        return created;
      });
    } catch (error) {
      if (isUniqueViolation(error, 'wallets_chain_address_key')) throw conflict('This wallet is linked to another account');
      throw error;
    }
  }

  async setUserRoles(userId: string, roles: string[]): Promise<User> {
    const normalized = normalizeRoles(roles);
    if (!normalized) throw badInput('roles must name at least one of FAN, ARTIST, ADMIN', 'roles');
    if (!isUuid(userId)) throw notFound('User');
    return this.db.useCase(async (tx) => {
      const found = await store.setRoles(tx, userId, normalized);
      if (!found) throw notFound('User');
      tx.outbox.record(UserRolesChanged, { userId, roles: normalized });
      return found;
    });
  }

  /** Creates or promotes the first admin from ADMIN_EMAIL / ADMIN_PASSWORD; safe to run on every start. */
  async ensureAdmin(): Promise<void> {
    const { ADMIN_EMAIL: email, ADMIN_PASSWORD: password } = this.config;
    if (!email || !password) return;
    const existing = await store.userByEmail(this.db.reader(), normalizeEmail(email));
    if (existing) {
      if (!existing.roles.includes('ADMIN')) {
        await this.setUserRoles(existing.id, [...existing.roles, 'ADMIN']);
        this.log.info({ userId: existing.id }, 'promoted the configured admin');
      }
      return;
    }
    try {
      const session = await this.register({ email, password, displayName: 'Administrator', role: 'FAN' });
      await this.setUserRoles(session.user.id, ['FAN', 'ADMIN']);
      this.log.info({ userId: session.user.id }, 'created the configured admin');
    } catch (error) {
      // Another replica created it at the same moment.
      if (!(error instanceof AppError && error.extensions.code === ErrorCode.CONFLICT)) throw error;
    }
  }

  /** A new session for `user` in the use case's transaction; every way in (password, passkey, ...) ends here. */
  async startSession(tx: Tx, user: User, familyId: string): Promise<SessionResult> {
    const refreshToken = newRefreshToken();
    await store.insertRefreshToken(tx, {
      id: randomUUID(),
      userId: user.id,
      familyId,
      tokenHash: hashRefreshToken(refreshToken),
      expiresAt: new Date(Date.now() + this.config.REFRESH_TOKEN_TTL_DAYS * 86_400_000),
    });
    const access = await this.issuer.issue(user.id, user.roles, familyId);
    return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, user };
  }

  private dummyPasswordHash(): Promise<string> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'), this.config.PASSWORD_SCRYPT_LOG2N);
    return this.dummyHash;
  }
}

/** Kept exported here for this context's modules; the rule is the platform's. */
export { isUuid };
