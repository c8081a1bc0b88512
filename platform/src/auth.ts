import { createLocalJWKSet, createRemoteJWKSet, importSPKI, jwtVerify, type CryptoKey, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import { forbidden, unauthenticated } from './errors.ts';
import type { SessionRevocations } from './session-revocations.ts';

export const Role = z.enum(['FAN', 'ARTIST', 'ADMIN']);
export type Role = z.infer<typeof Role>;

/** The claims of an access token signed by the identity subgraph. */
export const AccessClaims = z.object({
  sub: z.string().min(1),
  roles: z.array(Role),
  /** The session family the token descends from (one login). */
  sid: z.string().min(1),
  exp: z.number(),
});
export type AccessClaims = z.infer<typeof AccessClaims>;

export interface Principal {
  userId: string;
  roles: Role[];
  sessionId: string;
  expiresAt: number;
}

export const ACCESS_TOKEN_ALG = 'EdDSA';

export interface VerifierOptions {
  publicKeyPem?: string | undefined;
  jwksUrl?: string | undefined;
  jwks?: JSONWebKeySet | undefined;
  issuer: string;
  audience: string;
  /** Sessions signed out: their tokens are refused though their signature and expiry hold. */
  revocations?: SessionRevocations | undefined;
}

export type TokenVerifier = (token: string) => Promise<Principal>;

/**
 * Builds a verifier for access tokens. Verified tokens are remembered until they expire,
 * so a token presented on every request is checked cryptographically once per process;
 * whether its session was revoked is asked every time (a lookup in memory).
 */
export async function createTokenVerifier(options: VerifierOptions): Promise<TokenVerifier> {
  let verify: (token: string) => Promise<{ payload: unknown }>;
  const claimOptions = { algorithms: [ACCESS_TOKEN_ALG], issuer: options.issuer, audience: options.audience };
  if (options.publicKeyPem) {
    const key: CryptoKey = await importSPKI(options.publicKeyPem, ACCESS_TOKEN_ALG);
    verify = (token) => jwtVerify(token, key, claimOptions);
  } else if (options.jwks || options.jwksUrl) {
    const keySet = options.jwks ? createLocalJWKSet(options.jwks) : createRemoteJWKSet(new URL(options.jwksUrl!));
    verify = (token) => jwtVerify(token, keySet, claimOptions);
  } else {
    throw new Error('Access-token verification needs JWT_PUBLIC_KEY or JWKS_URL');
  }

  const cache = new Map<string, Principal>();
  const maxCached = 10_000;

  const notRevoked = (principal: Principal): Principal => {
    if (options.revocations?.isRevoked(principal.sessionId)) throw unauthenticated('This access token was revoked: its session was signed out');
    return principal;
  };

  return async (token: string) => {
    const cached = cache.get(token);
    const nowSeconds = Date.now() / 1000;
    if (cached && cached.expiresAt > nowSeconds) return notRevoked(cached);
    if (cached) cache.delete(token);
    let payload: unknown;
    try {
      ({ payload } = await verify(token));
    } catch {
      throw unauthenticated('Invalid or expired access token');
    }
    const claims = AccessClaims.safeParse(payload);
    if (!claims.success) throw unauthenticated('Invalid or expired access token');
    const principal: Principal = {
      userId: claims.data.sub,
      roles: claims.data.roles,
      sessionId: claims.data.sid,
      expiresAt: claims.data.exp,
    };
    if (cache.size >= maxCached) cache.delete(cache.keys().next().value as string);
    cache.set(token, principal);
    return notRevoked(principal);
  };
}

/** The verifier every process but identity uses: the key or JWKS named by its configuration. */
export function verifierFromConfig(
  config: {
    JWT_PUBLIC_KEY?: string | undefined;
    JWKS_URL?: string | undefined;
    JWT_ISSUER: string;
    JWT_AUDIENCE: string;
  },
  revocations: SessionRevocations,
): Promise<TokenVerifier> {
  return createTokenVerifier({
    publicKeyPem: config.JWT_PUBLIC_KEY,
    jwksUrl: config.JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    revocations,
  });
}

/** Extracts the token of an `Authorization: Bearer <token>` header; null when absent. */
export function bearerToken(header: string | undefined | null): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Malformed Authorization header: expected "Bearer <token>"');
  return match[1] ?? null;
}

export function requireAuth(principal: Principal | null | undefined): Principal {
  if (!principal) throw unauthenticated();
  return principal;
}

export function requireRole(principal: Principal | null | undefined, ...roles: Role[]): Principal {
  const p = requireAuth(principal);
  if (!roles.some((r) => p.roles.includes(r))) throw forbidden(`Requires role ${roles.join(' or ')}`);
  return p;
}

/** A person's own data: only that person or an ADMIN may read it. */
export function requireSelfOrAdmin(principal: Principal | null | undefined, ownerId: string): Principal {
  const p = requireAuth(principal);
  if (p.userId !== ownerId && !p.roles.includes('ADMIN')) throw forbidden('This belongs to another user');
  return p;
}

export function isSelfOrAdmin(principal: Principal | null | undefined, ownerId: string): boolean {
  return !!principal && (principal.userId === ownerId || principal.roles.includes('ADMIN'));
}
