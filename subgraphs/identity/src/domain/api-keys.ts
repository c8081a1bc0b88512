import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every key starts with this, so a leaked key is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = 'vsk_';
/** The part of a key stored in clear to find its row: `vsk_` and 8 characters (48 of its 256 bits). */
export const API_KEY_LOOKUP_LENGTH = API_KEY_PREFIX.length + 8;
const API_KEY_PATTERN = /^vsk_[A-Za-z0-9_-]{43}$/;

export interface NewApiKey {
  /** The secret, shown to the admin once. */
  key: string;
  /** Its first characters, stored to find the row. */
  prefix: string;
  /** Its SHA-256, the only form the secret is stored in. */
  hash: string;
}

/** A new key: `vsk_` and 32 random bytes in base64url (43 characters). */
export function newApiKey(): NewApiKey {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, API_KEY_LOOKUP_LENGTH), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The lookup prefix of a well-formed key; null for anything that cannot be a key. */
export function apiKeyLookupPrefix(key: string): string | null {
  return API_KEY_PATTERN.test(key) ? key.slice(0, API_KEY_LOOKUP_LENGTH) : null;
}

/** Compares a presented key with a stored hash in constant time. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const presented = Buffer.from(hashApiKey(key), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** A key's display name: trimmed, 1 to 100 characters; null when it is not acceptable. */
export function normalizeApiKeyName(name: string): string | null {
  const trimmed = name.trim();
  return trimmed.length >= 1 && trimmed.length <= 100 ? trimmed : null;
}

/** Compares the internal token a caller presented with the configured one, in constant time. */
export function internalTokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
