import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import {
  AppError,
  ConfigError,
  ErrorCode,
  badInput,
  conflict,
  isUniqueViolation,
  rateLimited,
  type FailureLimiter,
  type Logger,
  type Persistence,
  type SessionRevocations,
  type Tx,
} from '@vibestream/platform';
import type { IdentityConfig } from '../config.ts';
import { UserContactChanged, UserRegistered } from '../events.ts';
import {
  decideSocialSignIn,
  displayNameFor,
  identityClaims,
  isAllowedRedirectUri,
  isLoopbackHttp,
  providerRedirectUri,
  type IdentityClaims,
  type OidcProviderConfig,
} from '../domain/oidc.ts';
import { hashPassword } from '../domain/password.ts';
import { normalizeEmail } from '../domain/registration.ts';
import { OidcClient, OidcFlowError } from '../oidc-client.ts';
import type { SessionResult } from '../service.ts';
import * as store from '../store.ts';
import type { LinkedIdentity, User } from '../store.ts';

/** What this module needs of identity's other use cases: a session for the account signed in. */
export interface Sessions {
  startSession(tx: Tx, user: User, familyId: string): Promise<SessionResult>;
}

export interface SocialSignInResult extends SessionResult {
  /** True when this sign-in created the account. */
  created: boolean;
}

/** The configured redirect URIs; by default only the web app's callback page. */
export function oidcRedirectUris(config: Pick<IdentityConfig, 'OIDC_REDIRECT_URIS' | 'PUBLIC_URL'>): string[] {
  return config.OIDC_REDIRECT_URIS ?? [new URL('/auth/callback', config.PUBLIC_URL).href];
}

const hashState = (state: string) => createHash('sha256').update(state).digest('base64url');
const MAX_STATE_LENGTH = 200;
const MAX_CODE_LENGTH = 4096;
const unknownState = () => badInput('This sign-in is unknown, has expired or was already completed; start it again', 'state');
/** Access tokens may outlive their lifetime by this much (clock skew) when a session is revoked. */
const ACCESS_TOKEN_SLACK_SECONDS = 60;

/**
 * Social sign-in with OpenID Connect, Authorization Code + PKCE. `start` keeps the flow's state
 * (as its hash), nonce and PKCE verifier server-side; `complete` takes that flow once, exchanges
 * the code, verifies the ID token (src/oidc-client.ts) and applies the linking rule
 * (src/domain/oidc.ts) in one transaction.
 */
export class SocialSignIn {
  private readonly db: Persistence;
  private readonly config: IdentityConfig;
  private readonly sessions: Sessions;
  private readonly limiter: FailureLimiter;
  private readonly revocations: SessionRevocations;
  private readonly client: OidcClient;
  private readonly log: Logger;
  private readonly providers: Map<string, OidcProviderConfig>;
  private readonly redirectUris: string[];

  constructor(deps: {
    db: Persistence;
    config: IdentityConfig;
    sessions: Sessions;
    limiter: FailureLimiter;
    revocations: SessionRevocations;
    log: Logger;
    client?: OidcClient;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.sessions = deps.sessions;
    this.limiter = deps.limiter;
    this.revocations = deps.revocations;
    this.log = deps.log;
    this.client = deps.client ?? new OidcClient({ log: deps.log });
    this.providers = new Map(deps.config.OIDC_PROVIDERS.map((p) => [p.id, p]));
    this.redirectUris = oidcRedirectUris(deps.config);
    // Checked only when social sign-in is offered: without providers no redirect URI is ever used.
    if (deps.config.NODE_ENV === 'production' && this.providers.size > 0) {
      const insecure = [
        ...deps.config.OIDC_PROVIDERS.filter((p) => isLoopbackHttp(new URL(p.issuer))).map(
          (p) => `OIDC_PROVIDERS: provider ${p.id}: the issuer must be https in production`,
        ),
        ...this.redirectUris.filter((u) => new URL(u).protocol !== 'https:').map(() => 'OIDC_REDIRECT_URIS: must be https URLs in production'),
      ];
      if (insecure.length) throw new ConfigError([...new Set(insecure)]);
    }
  }

  /** The configured providers, in configuration order. */
  list(): { id: string; displayName: string }[] {
    return [...this.providers.values()].map(({ id, displayName }) => ({ id, displayName }));
  }

  async start(providerId: string, redirectUri: string, clientAddress: string): Promise<{ authorizationUrl: string; state: string }> {
    const provider = this.providers.get(providerId);
    if (!provider) {
      const offered = [...this.providers.keys()].join(', ') || 'none';
      throw badInput(`Unknown sign-in provider; this server offers: ${offered}`, 'provider');
    }
    if (!isAllowedRedirectUri(this.redirectUris, redirectUri)) throw badInput("redirectUri is not one of this server's allowed redirect URIs", 'redirectUri');
    // Each start keeps a row until it is used or expires: bounded per client address.
    const attempt = await this.limiter.reserve([{ key: `oidc:start:addr:${clientAddress}`, limit: this.config.OIDC_START_MAX_PER_ADDRESS }]);
    if (!attempt.admitted) throw rateLimited(`Too many sign-ins started; try again in ${attempt.retryAfterSeconds} seconds`, attempt.retryAfterSeconds);

    const state = randomBytes(32).toString('base64url');
    const nonce = oauth.generateRandomNonce();
    const codeVerifier = oauth.generateRandomCodeVerifier();
    // A form_post provider answers at FORM_POST_PATH on the callback's origin, which sends the browser on to the callback.
    const sentTo = providerRedirectUri(provider, redirectUri);
    const authorizationUrl = await this.client.authorizationUrl(provider, {
      redirectUri: sentTo,
      state,
      nonce,
      codeChallenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    });
    await this.db.useCase(async (tx) => {
      await store.deleteExpiredOidcFlows(tx, 100);
      await store.insertOidcFlow(tx, {
        stateHash: hashState(state),
        provider: provider.id,
        redirectUri: sentTo,
        nonce,
        codeVerifier,
        ttlSeconds: this.config.OIDC_STATE_TTL_SECONDS,
      });
    });
    return { authorizationUrl, state };
  }

  async complete(state: string, code: string): Promise<SocialSignInResult> {
    if (state.length === 0 || state.length > MAX_STATE_LENGTH) throw unknownState();
    if (code.length === 0 || code.length > MAX_CODE_LENGTH) throw badInput(`code must be 1 to ${MAX_CODE_LENGTH} characters`, 'code');
    // Taken (deleted) in its own transaction before the code is tried: a state works once, whatever follows.
    const flow = await this.db.useCase((tx) => store.takeOidcFlow(tx, hashState(state)));
    if (!flow) throw unknownState();
    const provider = this.providers.get(flow.provider);
    if (!provider) throw unknownState();

    let payload: Record<string, unknown>;
    try {
      payload = await this.client.exchange(provider, { code, state, redirectUri: flow.redirectUri, codeVerifier: flow.codeVerifier, nonce: flow.nonce });
    } catch (error) {
      if (!(error instanceof OidcFlowError)) throw error;
      this.log.info({ provider: provider.id, reason: error.reason, detail: error.message }, 'social sign-in refused');
      throw error.reason === 'code-refused'
        ? badInput(`${provider.displayName} did not accept this sign-in code; start again`, 'code')
        : badInput(`${provider.displayName}'s ID token did not verify; start again`, 'code');
    }
    const claims = identityClaims(payload);
    if (!claims) throw badInput(`${provider.displayName}'s ID token names no subject`, 'code');

    // A new account needs a password hash: an unusable one (a random secret nobody is told), at the
    // configured cost so signing in to it with a password takes as long as any other.
    const mayCreate = claims.email !== null && !(await store.identityBySubject(this.db.reader(), provider.id, claims.subject));
    let passwordHash = mayCreate ? await this.unusablePasswordHash() : null;
    let outcome: { result: SocialSignInResult; revoke: string[] } | undefined;
    for (let attempt = 1; !outcome; attempt++) {
      try {
        outcome = await this.db.useCase(async (tx) => {
          await store.lockProviderSubject(tx, provider.id, claims.subject);
          const linked = await store.identityBySubject(tx, provider.id, claims.subject);
          const owner = claims.email ? await store.userByEmail(tx, normalizeEmail(claims.email)) : undefined;
          const decision = decideSocialSignIn({
            linkedUserId: linked?.userId ?? null,
            claims,
            emailOwnerId: owner?.id ?? null,
            emailOwnerVerified: owner?.emailVerifiedAt != null,
          });
          switch (decision.kind) {
            case 'sign-in': {
              const user = await store.userById(tx, decision.userId);
              if (!user) throw unknownState();
              await store.touchIdentity(tx, provider.id, claims.subject, claims.email);
              return { result: { ...(await this.sessions.startSession(tx, user, randomUUID())), created: false }, revoke: [] };
            }
            case 'link': {
              await this.link(tx, provider, claims, decision.userId);
              const claimed = decision.claimAccount ? await this.claimAccount(tx, owner!, (passwordHash ??= await this.unusablePasswordHash())) : null;
              const user = claimed?.user ?? owner!;
              return { result: { ...(await this.sessions.startSession(tx, user, randomUUID())), created: false }, revoke: claimed?.revoke ?? [] };
            }
            case 'create': {
              passwordHash ??= await this.unusablePasswordHash();
              const user = await this.createAccount(tx, provider, claims, passwordHash);
              return { result: { ...(await this.sessions.startSession(tx, user, randomUUID())), created: true }, revoke: [] };
            }
            case 'refuse':
              throw decision.reason === 'no-email'
                ? badInput(`${provider.displayName} did not share an email address, which a new account needs; allow it and try again`, 'code')
                : new AppError(
                    ErrorCode.CONFLICT,
                    `An account with this email already exists, and ${provider.displayName} does not say the email is verified, so it was not linked: sign in with your password`,
                    { reason: 'EMAIL_NOT_VERIFIED_BY_PROVIDER' },
                  );
          }
        });
      } catch (error) {
        // The email was registered at this very moment: decide again, now that its account exists.
        if (attempt === 1 && isUniqueViolation(error, 'users_email_normalized_key')) continue;
        if (isUniqueViolation(error, 'user_identities_user_provider_key')) {
          throw conflict(`This account is already linked to another ${provider.displayName} account`);
        }
        throw error;
      }
    }
    // After the commit: their refresh tokens are revoked, so these sessions get no new access token.
    if (outcome.revoke.length > 0) {
      const until = Math.ceil(Date.now() / 1000) + this.config.ACCESS_TOKEN_TTL_SECONDS + ACCESS_TOKEN_SLACK_SECONDS;
      const revoked = await Promise.allSettled(outcome.revoke.map((sessionId) => this.revocations.revoke(sessionId, until)));
      const failed = revoked.filter((r) => r.status === 'rejected').length;
      if (failed > 0)
        this.log.error({ userId: outcome.result.user.id, failed }, 'social sign-in claimed an account: some sessions could not be revoked everywhere');
    }
    return outcome.result;
  }

  /**
   * The provider proved the email that an account registered without ever proving: the account is
   * its owner's. Whatever a squatter set up before (a password, sessions) stops working, and the
   * email is verified (a new contact version).
   */
  private async claimAccount(tx: Tx, owner: User, passwordHash: string): Promise<{ user: User; revoke: string[] }> {
    await store.lockUser(tx, owner.id);
    const withPassword = await store.setPasswordHash(tx, owner.id, passwordHash);
    if (!withPassword) throw new Error('update users: the statement returned no row');
    const verified = await store.markEmailVerified(tx, owner.id, owner.emailNormalized);
    if (verified) {
      tx.outbox.record(UserContactChanged, {
        userId: verified.id,
        email: verified.email,
        emailVerified: true,
        displayName: verified.displayName,
        version: verified.contactVersion,
        changedAt: new Date().toISOString(),
      });
    }
    const revoke = await store.revokeAllSessions(tx, owner.id, this.config.ACCESS_TOKEN_TTL_SECONDS + ACCESS_TOKEN_SLACK_SECONDS);
    this.log.warn(
      { userId: owner.id, revokedSessions: revoke.length },
      'social sign-in claimed an account whose email was never verified: password and sessions reset',
    );
    return { user: verified ?? withPassword, revoke };
  }

  private async link(tx: Tx, provider: OidcProviderConfig, claims: IdentityClaims, userId: string): Promise<LinkedIdentity> {
    const linked = await store.insertIdentity(tx, { provider: provider.id, subject: claims.subject, userId, email: claims.email });
    if (!linked) throw new Error('insert into user_identities: the statement returned no row');
    this.log.info({ provider: provider.id, userId }, 'social identity linked to an account by its verified email');
    return linked;
  }

  private async createAccount(tx: Tx, provider: OidcProviderConfig, claims: IdentityClaims, passwordHash: string): Promise<User> {
    const email = claims.email!;
    const inserted = await store.insertUser(tx, {
      id: randomUUID(),
      email,
      emailNormalized: normalizeEmail(email),
      passwordHash,
      displayName: displayNameFor(claims),
      roles: ['FAN'],
      createdAt: new Date(),
    });
    if (!inserted) throw new Error('insert into users: the statement returned no row');
    const user = claims.emailVerified ? ((await store.setEmailVerifiedOnCreation(tx, inserted.id)) ?? inserted) : inserted;
    await this.link(tx, provider, claims, user.id);
    tx.outbox.record(UserRegistered, { userId: user.id, displayName: user.displayName, roles: user.roles, registeredAt: user.createdAt.toISOString() });
    tx.outbox.record(UserContactChanged, {
      userId: user.id,
      email: user.email,
      emailVerified: claims.emailVerified,
      displayName: user.displayName,
      version: 1,
      changedAt: user.createdAt.toISOString(),
    });
    return user;
  }

  private unusablePasswordHash(): Promise<string> {
    return hashPassword(randomBytes(32).toString('base64url'), this.config.PASSWORD_SCRYPT_LOG2N);
  }
}
