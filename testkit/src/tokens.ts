import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { ACCESS_TOKEN_ALG, type Role, type SigningKeys } from '@vibestream/platform';

export interface MintOptions {
  userId?: string;
  roles?: Role[];
  sessionId?: string;
  /** Seconds from now; negative for an already expired token. */
  expiresIn?: number;
  issuer?: string;
  audience?: string;
}

/** Signs an access token the way identity does, with any key (a wrong one makes a forged token). */
export async function mintToken(keys: SigningKeys, options: MintOptions = {}): Promise<string> {
  const key = await importPKCS8(keys.privateKeyPem, ACCESS_TOKEN_ALG);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: options.roles ?? ['FAN'], sid: options.sessionId ?? randomUUID() })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG })
    .setSubject(options.userId ?? randomUUID())
    .setIssuer(options.issuer ?? 'vibestream-identity')
    .setAudience(options.audience ?? 'vibestream')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 300))
    .sign(key);
}
