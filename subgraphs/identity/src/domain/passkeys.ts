import { createHmac } from 'node:crypto';

/**
 * Passkeys (WebAuthn): the pure rules. The ceremonies' cryptography is @simplewebauthn/server's
 * (in use-cases/passkeys.ts); what is decided here is which origins count, when a challenge may be
 * used, whether a signature counter is believable, and what a passkey may be called.
 */

/** The most passkeys one user registers. User.passkeys declares it (@listSize(assumedSize: 20)). */
export const MAX_PASSKEYS_PER_USER = 20;
/** A passkey's name: at most this many characters once trimmed. */
export const MAX_PASSKEY_NAME_LENGTH = 64;
export const DEFAULT_PASSKEY_NAME = 'Passkey';
/**
 * The largest response (a credential's JSON) accepted, in characters. A real registration (attestation
 * 'none', an ES256 or RS256 key) is under 2 KB and an assertion under 1.5 KB; 16 KB leaves room for
 * packed attestation certificates and extensions, and refuses megabytes before they are parsed.
 */
export const MAX_RESPONSE_LENGTH = 16_384;

export type ChallengePurpose = 'registration' | 'authentication';

/** A passkey's name as stored: trimmed, inner whitespace runs made one space, cut to the maximum; empty becomes the default. */
export function normalizePasskeyName(name: string | null | undefined): string {
  const collapsed = (name ?? '')
    // Control characters (and U+0000, which PostgreSQL text cannot hold) are not part of a name.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!collapsed) return DEFAULT_PASSKEY_NAME;
  // Cut by code points, so a name never ends in half a surrogate pair.
  return [...collapsed].slice(0, MAX_PASSKEY_NAME_LENGTH).join('').trim();
}

/** What a stored challenge says about one attempt to use it. */
export type ChallengeVerdict = 'usable' | 'unknown' | 'used' | 'expired' | 'wrong-user' | 'wrong-purpose';

export interface ChallengeState {
  purpose: ChallengePurpose;
  /** The user it was issued to (registration), or the one whose email was given (sign-in); null: anyone. */
  userId: string | null;
  expiresAt: Date;
  usedAt: Date | null;
}

/**
 * Whether a challenge may be used for `purpose` by `userId` (null: nobody signed in) at `now`. The
 * store claims it atomically with the same conditions; this is the rule that claim follows.
 */
export function challengeVerdict(challenge: ChallengeState | null | undefined, purpose: ChallengePurpose, userId: string | null, now: Date): ChallengeVerdict {
  if (!challenge) return 'unknown';
  if (challenge.purpose !== purpose) return 'wrong-purpose';
  if (purpose === 'registration' && challenge.userId !== userId) return 'wrong-user';
  if (challenge.usedAt) return 'used';
  if (challenge.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'usable';
}

/**
 * WebAuthn's signature counter rule (Level 3, 7.2 step 21): an authenticator that keeps a counter
 * increases it on every assertion. When either the stored or the presented counter is non-zero, the
 * presented one must be greater; otherwise the credential may have been cloned. Both zero: the
 * authenticator keeps no counter (synced passkeys), nothing to compare.
 */
export function counterVerdict(stored: number, presented: number): 'ok' | 'possible-clone' {
  if (stored === 0 && presented === 0) return 'ok';
  return presented > stored ? 'ok' : 'possible-clone';
}

/** Origins the relying party accepts: the configured list, plus (outside production) any port of http://localhost and http://127.0.0.1. */
export interface OriginPolicy {
  origins: readonly string[];
  allowLoopback: boolean;
}

const LOOPBACK_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

/** Whether a client's origin (clientDataJSON.origin) is one the relying party accepts. */
export function isAllowedOrigin(origin: unknown, policy: OriginPolicy): origin is string {
  if (typeof origin !== 'string' || origin.length > 200) return false;
  if (policy.origins.includes(origin)) return true;
  return policy.allowLoopback && LOOPBACK_ORIGIN.test(origin);
}

/**
 * Origins whose host the relying party id does not cover (WebAuthn: the RP id must be the origin's
 * host or a registrable suffix of it). A passkey ceremony from such an origin fails in the browser,
 * so configuring one is a mistake worth refusing at start-up.
 */
export function originsOutsideRpId(rpId: string, origins: readonly string[]): string[] {
  return origins.filter((origin) => {
    const host = canonicalOrigin(origin) ? new URL(origin).hostname : null;
    return !host || !(host === rpId || host.endsWith(`.${rpId}`));
  });
}

/** An origin as browsers write it (scheme://host[:port], no path, default port left out), or null. */
export function canonicalOrigin(url: string): string | null {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
    return parsed.origin;
  } catch {
    return null;
  }
}

/**
 * Credential ids answered for an email that has no passkey (or no account): derived from the email
 * with a server secret, so they are the same on every request and look like real ones. Sign-in
 * options then have the same shape whether or not the email has an account.
 */
export function decoyCredentialIds(secret: string | Buffer, emailNormalized: string): string[] {
  return [createHmac('sha256', secret).update(`passkey-decoy:${emailNormalized}`).digest('base64url').slice(0, 43)];
}

/**
 * The challenge a client's response carries (clientDataJSON.challenge), read without trusting it:
 * the stored challenge it names is looked up and checked, and the library verifies it again.
 */
export function challengeOfClientData(clientDataJSON: string): string | null {
  try {
    const text = Buffer.from(clientDataJSON, 'base64url').toString('utf8');
    const data: unknown = JSON.parse(text);
    if (!data || typeof data !== 'object') return null;
    const { challenge } = data as { challenge?: unknown };
    return typeof challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(challenge) ? challenge : null;
  } catch {
    return null;
  }
}

/** The origin a client's response names (clientDataJSON.origin), or null. */
export function originOfClientData(clientDataJSON: string): string | null {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    const { origin } = (data ?? {}) as { origin?: unknown };
    return typeof origin === 'string' ? origin : null;
  } catch {
    return null;
  }
}
