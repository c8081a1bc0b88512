import { createHash, randomBytes } from 'node:crypto';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './registration.ts';

/**
 * Email ownership and recovery, the pure rules: the single-use tokens that the verification,
 * change-of-email and password-reset links carry, the links themselves, and what a new password
 * must be. The store consumes a token with one conditional UPDATE that mirrors `canConsume`.
 */

/**
 * What a token proves, and so what it may be used for: `verify_email` and `change_email` (sent to
 * the address being proven, by requestEmailVerification and changeEmail) verify an email;
 * `reset_password` (sent by requestPasswordReset) sets a new password. A token of one purpose is
 * refused by the other mutation.
 */
export const EMAIL_TOKEN_PURPOSES = ['verify_email', 'change_email', 'reset_password'] as const;
export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number];

/** The purposes verifyEmail accepts. */
export const VERIFYING_PURPOSES: readonly EmailTokenPurpose[] = ['verify_email', 'change_email'];
/** The purposes resetPassword accepts. */
export const RESETTING_PURPOSES: readonly EmailTokenPurpose[] = ['reset_password'];

/** 32 random bytes, base64url without padding: always 43 characters. */
export const EMAIL_TOKEN_LENGTH = 43;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A new token: 256 random bits, base64url. Only its hash is stored. */
export function newEmailToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored and looked up: the token's SHA-256, hex. */
export function hashEmailToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Could this be a token we issued? Anything else is refused before any database round trip. */
export function isWellFormedEmailToken(token: string): boolean {
  return token.length === EMAIL_TOKEN_LENGTH && TOKEN_SHAPE.test(token);
}

export interface EmailTokenState {
  purpose: EmailTokenPurpose;
  expiresAt: Date;
  usedAt: Date | null;
}

/**
 * Whether a token may be used now for one of `purposes`: never used, not yet expired (a token is
 * dead at its expiry instant), of an accepted purpose. store.consumeEmailToken checks the same in
 * its UPDATE's WHERE clause, atomically.
 */
export function canConsume(token: EmailTokenState | null | undefined, purposes: readonly EmailTokenPurpose[], now: Date): boolean {
  if (!token) return false;
  return token.usedAt === null && token.expiresAt.getTime() > now.getTime() && purposes.includes(token.purpose);
}

/** When a token issued at `issuedAt` with a lifetime of `ttlSeconds` stops working. */
export function emailTokenExpiry(issuedAt: Date, ttlSeconds: number): Date {
  return new Date(issuedAt.getTime() + ttlSeconds * 1000);
}

/** The web app's page a token opens. */
export type EmailLinkPage = 'verify-email' | 'reset-password';

/** `${publicUrl}/${page}?token=...`: publicUrl's path is kept (a web app served under a prefix), its query and fragment dropped. */
export function emailLink(publicUrl: string, page: EmailLinkPage, token: string): string {
  const url = new URL(publicUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${page}`;
  url.search = new URLSearchParams({ token }).toString();
  url.hash = '';
  return url.toString();
}

export type PasswordCheck = { ok: true } | { ok: false; message: string };

/** A new password follows registration's rules: 10 to 1024 characters. */
export function checkNewPassword(password: string): PasswordCheck {
  if (password.length < MIN_PASSWORD_LENGTH) return { ok: false, message: `password must be at least ${MIN_PASSWORD_LENGTH} characters` };
  if (password.length > MAX_PASSWORD_LENGTH) return { ok: false, message: `password must be at most ${MAX_PASSWORD_LENGTH} characters` };
  return { ok: true };
}
