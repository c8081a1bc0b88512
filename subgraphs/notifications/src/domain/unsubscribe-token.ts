import { jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { notificationKinds, type NotificationKind } from './notifications.ts';

/**
 * The token of an email's unsubscribe link (and of its RFC 8058 one-click List-Unsubscribe): it
 * names a user and a kind, signed with HMAC-SHA256 (a key from configuration). It does not expire
 * (an old email's link still works), and carries a format version (`v`), so a later format can be
 * told apart and an unknown one refused.
 */
export const UNSUBSCRIBE_TOKEN_VERSION = 1;
const ISSUER = 'vibestream-notifications';
const AUDIENCE = 'vibestream-email-unsubscribe';
/** Longer than any token this signs: refused before any cryptography. */
export const MAX_UNSUBSCRIBE_TOKEN_LENGTH = 1024;

const Claims = z.object({
  sub: z.uuid(),
  v: z.literal(UNSUBSCRIBE_TOKEN_VERSION),
  kind: z.enum(notificationKinds),
});

export interface UnsubscribeClaim {
  userId: string;
  kind: NotificationKind;
}

const keyOf = (secret: string) => new TextEncoder().encode(secret);

export async function signUnsubscribeToken(secret: string, claim: UnsubscribeClaim): Promise<string> {
  return new SignJWT({ v: UNSUBSCRIBE_TOKEN_VERSION, kind: claim.kind })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claim.userId.toLowerCase())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .sign(keyOf(secret));
}

/** The user and kind a token names; null for anything this key did not sign (tampered, truncated, another format). */
export async function verifyUnsubscribeToken(secret: string, token: string): Promise<UnsubscribeClaim | null> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_UNSUBSCRIBE_TOKEN_LENGTH) return null;
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    const claims = Claims.safeParse(payload);
    return claims.success ? { userId: claims.data.sub, kind: claims.data.kind } : null;
  } catch {
    return null;
  }
}
