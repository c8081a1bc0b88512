import * as oauth from 'oauth4webapi';
import { createPrivateKey } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '@vibestream/platform';
import { isLoopbackHttp, type OidcProviderConfig } from './domain/oidc.ts';

/**
 * Talking to OpenID providers: discovery (cached per issuer), the authorization URL, the code
 * exchange (oauth4webapi: client authentication, token endpoint errors, ID token claims), and the
 * ID token's signature verified with `jose` against the provider's JWKS (createRemoteJWKSet:
 * cached, refetched when a token names a key it does not know).
 */

/** The provider refused the code, or what it answered cannot be trusted: the caller's flow failed, not the server. */
export class OidcFlowError extends Error {
  readonly reason: 'code-refused' | 'bad-id-token';
  constructor(reason: 'code-refused' | 'bad-id-token', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OidcFlowError';
    this.reason = reason;
  }
}

interface Discovered {
  as: oauth.AuthorizationServer;
  jwks: JWTVerifyGetKey;
  /** The ID token algorithms accepted: what the provider announces, asymmetric only (never none, never HS*). */
  algorithms: string[];
  fetchedAt: number;
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$|^ES256K$/;
/** How long a discovery document is trusted before it is read again. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
/** Clock skew tolerated on exp/iat/nbf, in seconds. */
const CLOCK_TOLERANCE_S = 30;

export class OidcClient {
  private readonly discovered = new Map<string, Promise<Discovered>>();
  private readonly timeoutMs: number;
  private readonly log: Logger;

  constructor(options: { timeoutMs?: number; log: Logger }) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.log = options.log;
  }

  private requestOptions(url: URL) {
    return { signal: AbortSignal.timeout(this.timeoutMs), [oauth.allowInsecureRequests]: isLoopbackHttp(url) };
  }

  /** The provider's metadata and key set, read once per issuer (and again after an hour, or after a failure). */
  discover(provider: OidcProviderConfig): Promise<Discovered> {
    const cached = this.discovered.get(provider.issuer);
    if (cached) return cached;
    const issuer = new URL(provider.issuer);
    const pending = (async (): Promise<Discovered> => {
      const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...this.requestOptions(issuer) });
      const as = await oauth.processDiscoveryResponse(issuer, response);
      if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) {
        throw new Error(`the discovery document of ${provider.issuer} names no authorization_endpoint, token_endpoint or jwks_uri`);
      }
      const jwksUri = new URL(as.jwks_uri);
      if (jwksUri.protocol !== 'https:' && !isLoopbackHttp(jwksUri)) throw new Error(`the jwks_uri of ${provider.issuer} is not https`);
      const announced = (as.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => ASYMMETRIC.test(alg));
      return {
        as,
        jwks: createRemoteJWKSet(jwksUri, { timeoutDuration: this.timeoutMs, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }),
        algorithms: announced.length ? announced : ['RS256'],
        fetchedAt: Date.now(),
      };
    })();
    this.discovered.set(provider.issuer, pending);
    pending.then(
      (found) =>
        setTimeout(
          () => this.discovered.get(provider.issuer) === pending && this.discovered.delete(provider.issuer),
          DISCOVERY_TTL_MS - (Date.now() - found.fetchedAt),
        ).unref(),
      (error: unknown) => {
        this.discovered.delete(provider.issuer);
        this.log.warn({ issuer: provider.issuer, err: error }, 'OpenID discovery failed');
      },
    );
    return pending;
  }

  /** Where to send the browser: the provider's authorization endpoint with the flow's state, nonce and S256 PKCE challenge. */
  async authorizationUrl(provider: OidcProviderConfig, flow: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<string> {
    const { as } = await this.discover(provider);
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set('client_id', provider.clientId);
    url.searchParams.set('redirect_uri', flow.redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', provider.scopes.join(' '));
    url.searchParams.set('state', flow.state);
    url.searchParams.set('nonce', flow.nonce);
    url.searchParams.set('code_challenge', flow.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
    if (provider.responseMode === 'form_post') url.searchParams.set('response_mode', 'form_post');
    return url.href;
  }

  /**
   * Exchanges the code (with the PKCE verifier) at the provider's token endpoint and answers the
   * ID token's claims once verified: signature by the provider's JWKS, issuer, audience (and azp),
   * expiry, and the flow's nonce. OidcFlowError when the provider refuses or the token is bad;
   * other errors (the provider unreachable) are the server's.
   */
  async exchange(
    provider: OidcProviderConfig,
    flow: { code: string; state: string; redirectUri: string; codeVerifier: string; nonce: string },
  ): Promise<JWTPayload> {
    const { as, jwks, algorithms } = await this.discover(provider);
    const client: oauth.Client = { client_id: provider.clientId };
    const secret = provider.appleClientSecretKey ? await appleClientSecret(provider.appleClientSecretKey, provider.clientId) : provider.clientSecret!;
    const auth = provider.tokenEndpointAuthMethod === 'client_secret_post' ? oauth.ClientSecretPost(secret) : oauth.ClientSecretBasic(secret);
    // The state was bound to this provider server-side, so the authorization response came from its
    // issuer (the mix-up defence RFC 9207's `iss` parameter gives): it is named here as such.
    const callback = oauth.validateAuthResponse(as, client, new URLSearchParams({ code: flow.code, state: flow.state, iss: as.issuer }), flow.state);
    let idToken: string;
    try {
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        auth,
        callback,
        flow.redirectUri,
        flow.codeVerifier,
        this.requestOptions(new URL(as.token_endpoint!)),
      );
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: flow.nonce, requireIdToken: true });
      idToken = tokens.id_token!;
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError) {
        // Our own client credentials refused: a configuration problem of this server, not the caller's.
        if (error.error === 'invalid_client' || error.error === 'unauthorized_client') {
          throw new Error(`${provider.id}: the token endpoint refused this server's client credentials (${error.error})`, { cause: error });
        }
        throw new OidcFlowError('code-refused', `the provider refused the code (${error.error})`, { cause: error });
      }
      if (error instanceof oauth.OperationProcessingError)
        throw new OidcFlowError('bad-id-token', `the provider's answer failed its checks: ${error.message}`, { cause: error });
      throw error;
    }
    try {
      return await verifyIdToken(idToken, jwks, { issuer: as.issuer, clientId: provider.clientId, nonce: flow.nonce, algorithms });
    } catch (error) {
      // The provider's key set out of reach is the server's problem, not a bad token.
      if (error instanceof joseErrors.JWKSTimeout || error instanceof TypeError) throw error;
      throw new OidcFlowError('bad-id-token', `the ID token failed verification: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}

/**
 * Verifies an ID token with jose: its signature by one of `keys` (the provider's JWKS) with an
 * allowed asymmetric algorithm, the issuer, this client as audience (and as azp when there are
 * several), expiry (with 30 s of clock skew), and the flow's nonce. Throws when any fails.
 */
export async function verifyIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expected: { issuer: string; clientId: string; nonce: string; algorithms: string[]; currentDate?: Date },
): Promise<JWTPayload> {
  const algorithms = expected.algorithms.filter((alg) => ASYMMETRIC.test(alg));
  const { payload } = await jwtVerify(idToken, keys, {
    issuer: expected.issuer,
    audience: expected.clientId,
    algorithms: algorithms.length ? algorithms : ['RS256'],
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ['sub', 'iat', 'exp', 'nonce'],
    ...(expected.currentDate ? { currentDate: expected.currentDate } : {}),
  });
  if (payload.nonce !== expected.nonce) throw new Error('unexpected "nonce" claim value');
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== expected.clientId) throw new Error('unexpected "azp" claim value');
  return payload;
}

/**
 * Apple's client secret: a JWT signed (ES256) with the team's Sign in with Apple key, naming the
 * team (iss), the Services ID (sub) and Apple (aud); made fresh for each exchange, valid 5 minutes.
 */
export function appleClientSecret(key: { teamId: string; keyId: string; privateKey: string }, clientId: string, now = Date.now()): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
    .setIssuer(key.teamId)
    .setSubject(clientId)
    .setAudience('https://appleid.apple.com')
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + 300)
    .sign(createPrivateKey(key.privateKey));
}
