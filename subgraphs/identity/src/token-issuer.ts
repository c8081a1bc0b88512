import { createPublicKey, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ACCESS_TOKEN_ALG } from '@vibestream/platform';

export interface IssuedAccessToken {
  token: string;
  expiresAt: Date;
}

/** Signs access tokens with the identity subgraph's Ed25519 key and publishes the public half as a JWKS. */
export class TokenIssuer {
  private readonly key: CryptoKey;
  readonly publicJwk: JWK;
  private readonly options: { issuer: string; audience: string; ttlSeconds: number };

  private constructor(key: CryptoKey, publicJwk: JWK, options: { issuer: string; audience: string; ttlSeconds: number }) {
    this.key = key;
    this.publicJwk = publicJwk;
    this.options = options;
  }

  static async create(privateKeyPem: string, options: { issuer: string; audience: string; ttlSeconds: number }): Promise<TokenIssuer> {
    const key = await importPKCS8(privateKeyPem, ACCESS_TOKEN_ALG);
    const jwk = await exportJWK(createPublicKey(privateKeyPem));
    const kid = await calculateJwkThumbprint(jwk);
    return new TokenIssuer(key, { ...jwk, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' }, options);
  }

  async issue(userId: string, roles: string[], sessionId: string): Promise<IssuedAccessToken> {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.options.ttlSeconds;
    const token = await new SignJWT({ roles, sid: sessionId })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: this.publicJwk.kid!, typ: 'at+jwt' })
      .setSubject(userId)
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }
}
