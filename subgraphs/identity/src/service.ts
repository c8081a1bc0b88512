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
  recordEvent,
  unauthenticated,
  type EntityManager,
  type FailureLimiter,
  type Logger,
  type MikroORM,
  type Principal,
  type SessionRevocations,
  isUuid,
} from '@vibestream/platform';
import type { IdentityConfig } from './config.ts';
import { RefreshToken, User, Wallet, WalletChallenge } from './entities.ts';
import { UserRegistered, UserRolesChanged, WalletLinked } from './events.ts';
import { hashPassword, verifyPassword } from './domain/password.ts';
import { checkRegistration, normalizeEmail, normalizeRoles, type RegistrationInput, type Role } from './domain/registration.ts';
import { decideRefresh, hashRefreshToken, newRefreshToken } from './domain/tokens.ts';
import { MAX_WALLETS_PER_USER, challengeMessage, isValidWalletSignature, normalizeAddress, type Chain } from './domain/wallet.ts';
import type { TokenIssuer } from './token-issuer.ts';

export const SOURCE = 'identity';

export interface SessionResult {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  user: User;
}

export type SessionTokensResult = Omit<SessionResult, 'user'>;

const invalidCredentials = () => unauthenticated('Invalid email or password');

/** Identity's use cases. Each runs in one transaction and writes its events to the outbox. */
export class IdentityService {
  private readonly orm: MikroORM;
  private readonly config: IdentityConfig;
  private readonly issuer: TokenIssuer;
  private readonly limiter: FailureLimiter;
  private readonly revocations: SessionRevocations;
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;
  /** Hashing a dummy password for unknown emails keeps their timing like a wrong password's. */
  private dummyHash: Promise<string> | null = null;

  constructor(deps: {
    orm: MikroORM;
    config: IdentityConfig;
    issuer: TokenIssuer;
    limiter: FailureLimiter;
    revocations: SessionRevocations;
    log: Logger;
    onEventsCommitted: () => void;
  }) {
    this.orm = deps.orm;
    this.config = deps.config;
    this.issuer = deps.issuer;
    this.limiter = deps.limiter;
    this.revocations = deps.revocations;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
  }

  async register(em: EntityManager, input: RegistrationInput): Promise<SessionResult> {
    const check = checkRegistration(input);
    if (!check.ok) throw check.reason === 'forbidden-role' ? forbidden(check.message) : badInput(check.message, `input.${check.field}`);
    const existing = await em.count(User, { emailNormalized: check.emailNormalized });
    if (existing > 0) throw conflict('An account with this email already exists');
    const passwordHash = await hashPassword(input.password, this.config.PASSWORD_SCRYPT_LOG2N);
    try {
      const result = await em.transactional(async (tx) => {
        const user = tx.create(User, {
          id: randomUUID(),
          email: check.email,
          emailNormalized: check.emailNormalized,
          passwordHash,
          displayName: check.displayName,
          roles: [check.role],
          createdAt: new Date(),
        });
        recordEvent(tx, SOURCE, UserRegistered, {
          userId: user.id,
          displayName: user.displayName,
          roles: user.roles as Role[],
          registeredAt: user.createdAt.toISOString(),
        });
        await tx.flush();
        return this.startSession(tx, user, randomUUID());
      });
      this.onEventsCommitted();
      return result;
    } catch (error) {
      if (isUniqueViolation(error, 'users_email_normalized_key')) throw conflict('An account with this email already exists');
      throw error;
    }
  }

  async login(em: EntityManager, email: string, password: string, clientAddress: string): Promise<SessionResult> {
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

    const user = await em.findOne(User, { emailNormalized });
    const passwordOk = user
      ? await verifyPassword(password, user.passwordHash)
      : await verifyPassword(password, await this.dummyPasswordHash()).then(() => false);
    if (!user || !passwordOk) throw invalidCredentials();
    await attempt.release();
    await this.limiter.reset([keys[0]!]);
    return em.transactional((tx) => this.startSession(tx, user, randomUUID()));
  }

  async refresh(em: EntityManager, presented: string): Promise<SessionTokensResult> {
    const outcome = await em.transactional(async (tx) => {
      const rows = (await tx.execute(
        `select id, user_id, family_id, expires_at, used_at, revoked_at from refresh_tokens where token_hash = ? for update`,
        [hashRefreshToken(presented)],
      )) as { id: string; user_id: string; family_id: string; expires_at: Date; used_at: Date | null; revoked_at: Date | null }[];
      const row = rows[0] ?? null;
      const decision = decideRefresh(row && { usedAt: row.used_at, revokedAt: row.revoked_at, expiresAt: new Date(row.expires_at) }, new Date());
      if (decision === 'reused') {
        // A rotated token came back: someone holds a copy. End every session of the family.
        await tx.execute(`update refresh_tokens set revoked_at = now() where family_id = ? and revoked_at is null`, [row!.family_id]);
        this.log.warn({ familyId: row!.family_id, userId: row!.user_id }, 'refresh token reuse: session family revoked');
      }
      if (decision !== 'rotate') return { ok: false as const, revokedFamily: decision === 'reused' ? row!.family_id : null };
      await tx.execute(`update refresh_tokens set used_at = now() where id = ?`, [row!.id]);
      const user = await tx.findOneOrFail(User, { id: row!.user_id });
      return { ok: true as const, session: await this.startSession(tx, user, row!.family_id) };
    });
    // Thrown after the commit, so a reuse's revocation is kept.
    if (!outcome.ok) {
      if (outcome.revokedFamily) await this.revokeAccessTokens(outcome.revokedFamily);
      throw unauthenticated('Refresh token is invalid, expired or revoked');
    }
    return outcome.session;
  }

  async logout(em: EntityManager, principal: Principal): Promise<boolean> {
    const result = (await em.execute(
      `update refresh_tokens set revoked_at = now() where family_id = ? and user_id = ? and revoked_at is null returning id`,
      [principal.sessionId, principal.userId],
    )) as unknown[];
    // Also when nothing was left to revoke here: a retry after a failed broadcast completes it.
    await this.revokeAccessTokens(principal.sessionId);
    return result.length > 0;
  }

  /**
   * Ends a session's outstanding access tokens everywhere. Its refresh tokens are revoked first,
   * so it gets no new ones: each it has expires within one access-token lifetime from now.
   */
  private revokeAccessTokens(sessionId: string): Promise<void> {
    return this.revocations.revoke(sessionId, Math.ceil(Date.now() / 1000) + this.config.ACCESS_TOKEN_TTL_SECONDS);
  }

  async walletChallenge(em: EntityManager, principal: Principal, chain: Chain, rawAddress: string) {
    const address = normalizeAddress(chain, rawAddress);
    if (!address) throw badInput(`address is not a valid ${chain === 'ETHEREUM' ? 'Ethereum' : 'Solana'} address`, 'address');
    const publicUrl = new URL(this.config.PUBLIC_URL);
    const issuedAt = new Date();
    const expiresAt = new Date(issuedAt.getTime() + this.config.WALLET_CHALLENGE_TTL_SECONDS * 1000);
    // A valid token may outlive its account; the challenge row would then violate its foreign key.
    if (!(await em.findOne(User, { id: principal.userId }))) throw unauthenticated('This account no longer exists');
    const nonce = randomBytes(12).toString('hex');
    const message = challengeMessage({ chain, address, domain: publicUrl.host, uri: publicUrl.origin, nonce, issuedAt, expiresAt });
    em.create(WalletChallenge, { id: randomUUID(), userId: principal.userId, chain, address, nonce, message, createdAt: issuedAt, expiresAt, usedAt: null });
    await em.flush();
    return { message, expiresAt };
  }

  async linkWallet(em: EntityManager, principal: Principal, chain: Chain, rawAddress: string, signature: string): Promise<Wallet> {
    const address = normalizeAddress(chain, rawAddress);
    if (!address) throw badInput(`address is not a valid ${chain === 'ETHEREUM' ? 'Ethereum' : 'Solana'} address`, 'address');
    const candidates = await em.find(
      WalletChallenge,
      { userId: principal.userId, chain, address },
      { orderBy: { createdAt: 'desc' }, limit: 10 },
    );
    if (candidates.length === 0) throw badInput('No challenge was issued for this wallet; request one with walletChallenge', 'signature');
    const signed = candidates.find((c) => isValidWalletSignature(chain, address, c.message, signature));
    if (!signed) throw badInput('The signature does not match a challenge for this wallet', 'signature');
    if (signed.usedAt) throw badInput('This challenge was already used; request a new one', 'signature');
    if (signed.expiresAt.getTime() <= Date.now()) throw badInput('This challenge has expired; request a new one', 'signature');

    try {
      const wallet = await em.transactional(async (tx) => {
        const claimed = (await tx.execute(
          `update wallet_challenges set used_at = now() where id = ? and used_at is null and expires_at > now() returning id`,
          [signed.id],
        )) as unknown[];
        if (claimed.length === 0) throw badInput('This challenge was already used; request a new one', 'signature');
        const owner = await tx.findOne(Wallet, { chain, address });
        if (owner && owner.userId !== principal.userId) throw conflict('This wallet is linked to another account');
        if (owner) return owner;
        // The user's row lock serialises their links, so concurrent ones cannot pass the cap together.
        await tx.execute('select id from users where id = ? for update', [principal.userId]);
        if ((await tx.count(Wallet, { userId: principal.userId })) >= MAX_WALLETS_PER_USER) {
          throw conflict(`You already have ${MAX_WALLETS_PER_USER} wallets linked, the most an account may; this one was not linked`);
        }
        const created = tx.create(Wallet, { id: randomUUID(), userId: principal.userId, chain, address, linkedAt: new Date() });
        recordEvent(tx, SOURCE, WalletLinked, { userId: principal.userId, chain, address });
        await tx.flush();
        return created;
      });
      this.onEventsCommitted();
      return wallet;
    } catch (error) {
      if (isUniqueViolation(error, 'wallets_chain_address_key')) throw conflict('This wallet is linked to another account');
      throw error;
    }
  }

  async setUserRoles(em: EntityManager, userId: string, roles: string[]): Promise<User> {
    const normalized = normalizeRoles(roles);
    if (!normalized) throw badInput('roles must name at least one of FAN, ARTIST, ADMIN', 'roles');
    if (!isUuid(userId)) throw notFound('User');
    const user = await em.transactional(async (tx) => {
      const found = await tx.findOne(User, { id: userId });
      if (!found) throw notFound('User');
      found.roles = normalized;
      recordEvent(tx, SOURCE, UserRolesChanged, { userId, roles: normalized });
      await tx.flush();
      return found;
    });
    this.onEventsCommitted();
    return user;
  }

  /** Creates or promotes the first admin from ADMIN_EMAIL / ADMIN_PASSWORD; safe to run on every start. */
  async ensureAdmin(): Promise<void> {
    const { ADMIN_EMAIL: email, ADMIN_PASSWORD: password } = this.config;
    if (!email || !password) return;
    const em = this.orm.em.fork();
    const existing = await em.findOne(User, { emailNormalized: normalizeEmail(email) });
    if (existing) {
      if (!existing.roles.includes('ADMIN')) {
        await this.setUserRoles(em, existing.id, [...existing.roles, 'ADMIN']);
        this.log.info({ userId: existing.id }, 'promoted the configured admin');
      }
      return;
    }
    try {
      const session = await this.register(em, { email, password, displayName: 'Administrator', role: 'FAN' });
      await this.setUserRoles(em, session.user.id, ['FAN', 'ADMIN']);
      this.log.info({ userId: session.user.id }, 'created the configured admin');
    } catch (error) {
      // Another replica created it at the same moment.
      if (!(error instanceof AppError && error.extensions.code === ErrorCode.CONFLICT)) throw error;
    }
  }

  private async startSession(tx: EntityManager, user: User, familyId: string): Promise<SessionResult> {
    const refreshToken = newRefreshToken();
    tx.create(RefreshToken, {
      id: randomUUID(),
      userId: user.id,
      familyId,
      tokenHash: hashRefreshToken(refreshToken),
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + this.config.REFRESH_TOKEN_TTL_DAYS * 86_400_000),
      usedAt: null,
      revokedAt: null,
    });
    await tx.flush();
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
