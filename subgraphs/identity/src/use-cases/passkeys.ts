import { createHash, randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import {
  ConfigError,
  badInput,
  conflict,
  entityTag,
  isUniqueViolation,
  isUuid,
  rateLimited,
  unauthenticated,
  type FailureLimiter,
  type Logger,
  type Persistence,
  type Principal,
  z,
} from '@vibestream/platform';
import type { IdentityConfig } from '../config.ts';
import {
  MAX_PASSKEYS_PER_USER,
  MAX_RESPONSE_LENGTH,
  canonicalOrigin,
  challengeOfClientData,
  counterVerdict,
  decoyCredentialIds,
  isAllowedOrigin,
  normalizePasskeyName,
  originOfClientData,
  originsOutsideRpId,
  type OriginPolicy,
} from '../domain/passkeys.ts';
import { normalizeEmail } from '../domain/registration.ts';
import type { IdentityService, SessionResult } from '../service.ts';
import * as store from '../store.ts';
import type { Passkey } from '../store.ts';

/** COSE algorithms offered and accepted: EdDSA, ES256, RS256 (the same list at both ends of a registration). */
const ALGORITHMS = [-8, -7, -257];
const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/** The relying party, as the configuration names it. */
export interface RelyingParty {
  id: string;
  name: string;
  origins: OriginPolicy;
}

export function relyingPartyOf(config: IdentityConfig): RelyingParty {
  const publicUrl = new URL(config.PUBLIC_URL);
  const publicOrigin = canonicalOrigin(config.PUBLIC_URL);
  const origins = (config.WEBAUTHN_ORIGINS ?? (publicOrigin ? [publicOrigin] : [])).map((o) => canonicalOrigin(o) ?? o);
  const id = config.WEBAUTHN_RP_ID ?? publicUrl.hostname;
  // Checked for origins that are configured, and in production; a development stack may name its
  // PUBLIC_URL by 127.0.0.1 while the browser opens localhost (loopback origins are accepted there).
  const outside = config.WEBAUTHN_ORIGINS || config.NODE_ENV === 'production' ? originsOutsideRpId(id, origins) : [];
  if (outside.length) {
    throw new ConfigError([
      {
        variable: 'WEBAUTHN_ORIGINS',
        message: `${outside.join(', ')}: not covered by the relying party id ${id} (WEBAUTHN_RP_ID; default PUBLIC_URL's hostname)`,
      },
    ]);
  }
  return {
    id,
    name: config.WEBAUTHN_RP_NAME,
    origins: { origins, allowLoopback: config.NODE_ENV !== 'production' },
  };
}

// The credential JSON a browser sends (@simplewebauthn/browser's startRegistration / startAuthentication),
// checked for shape before any cryptography; the library checks every value again.
const base64url = z.string().regex(/^[A-Za-z0-9_-]*={0,2}$/, 'not base64url');
const RegistrationResponse = z.object({
  id: base64url.min(1).max(1400),
  rawId: base64url.min(1).max(1400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    attestationObject: base64url.min(1),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});
const AuthenticationResponse = z.object({
  id: base64url.min(1).max(1400),
  rawId: base64url.min(1).max(1400),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url.min(1),
    authenticatorData: base64url.min(1),
    signature: base64url.min(1),
    userHandle: base64url.max(256).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

/** The response argument as JSON of the expected shape, or null (too long, not JSON, wrong shape). */
function parseResponse<S extends z.ZodType>(text: string, schema: S): z.output<S> | null {
  if (typeof text !== 'string' || text.length > MAX_RESPONSE_LENGTH) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The user handle of an account: its id's 16 bytes (stable, and not the email). */
export function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
}

const signInRefused = () => unauthenticated('This passkey sign-in could not be verified; start again');

/** Passkeys: registration, sign-in, listing and removal. Each change runs through `db.useCase`; the SQL is in store.ts. */
export class PasskeyService {
  private readonly db: Persistence;
  private readonly config: IdentityConfig;
  private readonly identity: IdentityService;
  private readonly limiter: FailureLimiter;
  private readonly log: Logger;
  private readonly rp: RelyingParty;
  private readonly decoySecret: Buffer;

  constructor(deps: { db: Persistence; config: IdentityConfig; identity: IdentityService; limiter: FailureLimiter; log: Logger }) {
    this.db = deps.db;
    this.config = deps.config;
    this.identity = deps.identity;
    this.limiter = deps.limiter;
    this.log = deps.log;
    this.rp = relyingPartyOf(deps.config);
    // Stable across restarts and replicas, and secret: derived from the token signing key.
    this.decoySecret = createHash('sha256').update('vibestream passkey decoys\0').update(deps.config.JWT_PRIVATE_KEY).digest();
  }

  get relyingParty(): RelyingParty {
    return this.rp;
  }

  private challengeExpiry(from: Date): Date {
    return new Date(from.getTime() + this.config.PASSKEY_CHALLENGE_TTL_SECONDS * 1000);
  }

  /** Creation options (PublicKeyCredentialCreationOptionsJSON) for the caller; the challenge is kept, bound to them. */
  async startRegistration(principal: Principal): Promise<string> {
    const user = await store.userById(this.db.reader(), principal.userId);
    if (!user) throw unauthenticated('This account no longer exists');
    const existing = await store.passkeysOfUsers(this.db.reader(), [user.id]);
    if (existing.length >= MAX_PASSKEYS_PER_USER)
      throw conflict(`You already have ${MAX_PASSKEYS_PER_USER} passkeys, the most an account may; remove one first`);
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: user.email,
      userID: userHandleOf(user.id),
      userDisplayName: user.displayName,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      supportedAlgorithmIDs: ALGORITHMS,
      timeout: this.config.PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    });
    const now = new Date();
    await this.db.useCase(async (tx) => {
      await store.sweepPasskeyChallenges(tx, 100);
      await store.insertPasskeyChallenge(tx, {
        id: randomUUID(),
        purpose: 'registration',
        userId: user.id,
        challenge: options.challenge,
        createdAt: now,
        expiresAt: this.challengeExpiry(now),
      });
    });
    return JSON.stringify(options);
  }

  /** Verifies the browser's attestation against a live challenge issued to the caller, and keeps the passkey. */
  async finishRegistration(principal: Principal, responseText: string, rawName: string | null | undefined): Promise<Passkey> {
    const refused = (why: string) => badInput(`The passkey response does not verify: ${why}`, 'response');
    const response = parseResponse(responseText, RegistrationResponse);
    if (!response) throw badInput(`response must be the credential's JSON (at most ${MAX_RESPONSE_LENGTH} characters)`, 'response');
    if (rawName !== null && rawName !== undefined && rawName.length > 1000) throw badInput('name is too long (at most 64 characters are kept)', 'name');
    const name = normalizePasskeyName(rawName);

    const challengeValue = challengeOfClientData(response.response.clientDataJSON);
    const known = challengeValue ? await store.passkeyChallengeByValue(this.db.reader(), challengeValue) : undefined;
    // Claimed before the cryptography: whatever the outcome, the challenge is spent.
    const challenge = known && (await this.db.useCase((tx) => store.claimPasskeyChallenge(tx, known.id, 'registration', principal.userId)));
    if (!challenge) throw refused('it answers no live challenge issued to you (unknown, used or expired); start again');
    const origin = originOfClientData(response.response.clientDataJSON);
    if (!isAllowedOrigin(origin, this.rp.origins)) throw refused('it comes from an origin this server does not serve');

    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response: response as RegistrationResponseJSON,
        expectedChallenge: challenge.challenge,
        expectedOrigin: origin,
        expectedRPID: this.rp.id,
        requireUserVerification: false,
        supportedAlgorithmIDs: ALGORITHMS,
      });
    } catch (error) {
      this.log.debug({ err: error, userId: principal.userId }, 'passkey registration refused');
      throw refused(error instanceof Error ? error.message : 'bad attestation');
    }
    if (!verified.verified) throw refused('bad attestation');
    const { credential } = verified.registrationInfo;
    const transports = (response.response.transports ?? []).filter((t) => TRANSPORTS.has(t));

    try {
      return await this.db.useCase(async (tx) => {
        // The user's row lock serialises their registrations, so concurrent ones cannot pass the cap together.
        if (!(await store.lockUser(tx, principal.userId))) throw unauthenticated('This account no longer exists');
        if ((await store.passkeyCountOf(tx, principal.userId)) >= MAX_PASSKEYS_PER_USER) {
          throw conflict(`You already have ${MAX_PASSKEYS_PER_USER} passkeys, the most an account may; this one was not added`);
        }
        const created = await store.insertPasskey(tx, {
          id: randomUUID(),
          userId: principal.userId,
          credentialId: credential.id,
          publicKey: Buffer.from(credential.publicKey),
          counter: credential.counter,
          transports,
          name,
          createdAt: new Date(),
        });
        if (!created) throw new Error('insert into passkeys: the statement returned no row');
        tx.changed(entityTag('User', principal.userId));
        return created;
      });
    } catch (error) {
      if (isUniqueViolation(error, 'passkeys_credential_id_key')) throw badInput('This passkey is already registered', 'response');
      throw error;
    }
  }

  /**
   * Request options (PublicKeyCredentialRequestOptionsJSON) and the id of their challenge. With an
   * email: its passkeys as allowCredentials, or decoys when it has none (or no account), so the
   * answer has the same shape either way; without: empty, for a discoverable credential.
   */
  async startSignIn(email: string | null | undefined, clientAddress: string): Promise<{ challengeId: string; options: string }> {
    const attempt = await this.limiter.reserve([{ key: `passkey:start:addr:${clientAddress}`, limit: this.config.PASSKEY_SIGNIN_MAX_PER_ADDRESS }]);
    if (!attempt.admitted) throw rateLimited(`Too many passkey sign-ins; try again in ${attempt.retryAfterSeconds} seconds`, attempt.retryAfterSeconds);

    let userId: string | null = null;
    let allowCredentials: { id: string }[] | undefined;
    if (email !== null && email !== undefined && email.trim() !== '') {
      if (email.length > 254) throw badInput('email is not a valid email address', 'email');
      const emailNormalized = normalizeEmail(email);
      const found = await store.passkeyCredentialsOfEmail(this.db.reader(), emailNormalized);
      userId = found.userId;
      const ids = found.credentialIds.length ? found.credentialIds : decoyCredentialIds(this.decoySecret, emailNormalized);
      allowCredentials = ids.map((id) => ({ id }));
    }
    const options = await generateAuthenticationOptions({
      rpID: this.rp.id,
      ...(allowCredentials ? { allowCredentials } : {}),
      userVerification: 'preferred',
      timeout: this.config.PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    });
    const challengeId = randomUUID();
    const now = new Date();
    await this.db.useCase(async (tx) => {
      await store.sweepPasskeyChallenges(tx, 100);
      await store.insertPasskeyChallenge(tx, {
        id: challengeId,
        purpose: 'authentication',
        userId,
        challenge: options.challenge,
        createdAt: now,
        expiresAt: this.challengeExpiry(now),
      });
    });
    return { challengeId, options: JSON.stringify(options) };
  }

  /**
   * Verifies an assertion against the challenge `challengeId` (spent by this call, whatever its
   * outcome) and the stored credential, checks its signature counter, and starts a session.
   */
  async finishSignIn(challengeId: string, responseText: string, clientAddress: string): Promise<SessionResult> {
    const attempt = await this.limiter.reserve([{ key: `passkey:finish:addr:${clientAddress}`, limit: this.config.PASSKEY_SIGNIN_MAX_PER_ADDRESS }]);
    if (!attempt.admitted) throw rateLimited(`Too many failed passkey sign-ins; try again in ${attempt.retryAfterSeconds} seconds`, attempt.retryAfterSeconds);
    const response = parseResponse(responseText, AuthenticationResponse);
    if (!response) throw badInput(`response must be the credential's JSON (at most ${MAX_RESPONSE_LENGTH} characters)`, 'response');

    // One statement claims it: of concurrent finishes with one challenge, exactly one goes on.
    const challenge = isUuid(challengeId) ? await this.db.useCase((tx) => store.claimPasskeyChallenge(tx, challengeId, 'authentication', null)) : undefined;
    if (!challenge) throw unauthenticated('This passkey sign-in challenge is unknown, used or expired; start again');
    const passkey = await store.passkeyByCredentialId(this.db.reader(), response.id);
    if (!passkey) throw signInRefused();
    if (challenge.userId && challenge.userId !== passkey.userId) throw signInRefused();
    const handle = response.response.userHandle;
    if (handle && handle !== Buffer.from(userHandleOf(passkey.userId)).toString('base64url')) throw signInRefused();
    const origin = originOfClientData(response.response.clientDataJSON);
    if (!isAllowedOrigin(origin, this.rp.origins)) throw signInRefused();

    let newCounter: number;
    try {
      const verified = await verifyAuthenticationResponse({
        response: response as AuthenticationResponseJSON,
        expectedChallenge: challenge.challenge,
        expectedOrigin: origin,
        expectedRPID: this.rp.id,
        // The counter is this service's rule (counterVerdict), checked under the passkey's lock below.
        credential: { id: passkey.credentialId, publicKey: new Uint8Array(passkey.publicKey), counter: 0, transports: passkey.transports },
        requireUserVerification: false,
      });
      if (!verified.verified) throw new Error('not verified');
      newCounter = verified.authenticationInfo.newCounter;
    } catch (error) {
      this.log.debug({ err: error, passkeyId: passkey.id }, 'passkey assertion refused');
      throw signInRefused();
    }

    const outcome = await this.db.useCase(async (tx) => {
      const locked = await store.lockPasskey(tx, passkey.id);
      if (!locked) return { ok: false as const, stored: null };
      if (counterVerdict(locked.counter, newCounter) === 'possible-clone') return { ok: false as const, stored: locked.counter };
      await store.recordPasskeyUse(tx, locked.id, newCounter);
      tx.changed(entityTag('User', locked.userId));
      const user = await store.userById(tx, locked.userId);
      if (!user) return { ok: false as const, stored: null };
      return { ok: true as const, session: await this.identity.startSession(tx, user, randomUUID()) };
    });
    if (!outcome.ok) {
      if (outcome.stored !== null) {
        this.log.warn(
          { passkeyId: passkey.id, userId: passkey.userId, storedCounter: outcome.stored, presentedCounter: newCounter },
          'passkey signature counter did not increase: possible cloned authenticator; sign-in refused',
        );
      }
      throw signInRefused();
    }
    await attempt.release();
    return outcome.session;
  }

  /** Removes one of the caller's passkeys; false when they have none with this id. */
  async remove(principal: Principal, id: string): Promise<boolean> {
    return this.db.useCase(async (tx) => {
      const removed = await store.deletePasskey(tx, id, principal.userId);
      if (removed) tx.changed(entityTag('User', principal.userId));
      return removed;
    });
  }
}
