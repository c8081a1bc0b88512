import { createHash, randomBytes } from 'node:crypto';

/** An opaque refresh token: 256 random bits. Only its hash is stored. */
export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export type RefreshDecision = 'rotate' | 'unknown' | 'expired' | 'revoked' | 'reused';

/** What presenting a refresh token does, given its stored state. */
export function decideRefresh(
  row: { usedAt: Date | null | undefined; revokedAt: Date | null | undefined; expiresAt: Date } | null,
  now: Date,
): RefreshDecision {
  if (!row) return 'unknown';
  if (row.revokedAt) return 'revoked';
  if (row.usedAt) return 'reused';
  if (row.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'rotate';
}
