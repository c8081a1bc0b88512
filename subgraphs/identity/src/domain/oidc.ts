import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';

/**
 * Social sign-in with OpenID Connect: the pure rules. Which providers the configuration names,
 * which redirect URIs a flow may return to, what an ID token's claims say about the person, and
 * what a sign-in does with them (sign in, link, create, or refuse). No I/O here: discovery, the
 * code exchange and the ID token's signature are in src/oidc-client.ts.
 */

/** A provider's id: what `startSocialSignIn(provider)` names and `linkedProviders` shows. */
export const PROVIDER_ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** True for http URLs on a loopback host, the only plain-http issuers and redirect URIs accepted (outside production). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]');
}

const issuerUrl = z.url('must be a URL').refine((value) => {
  const url = new URL(value);
  return (url.protocol === 'https:' || isLoopbackHttp(url)) && !url.search && !url.hash;
}, 'must be an https URL (http only on localhost/127.0.0.1) with no query or fragment');

export const OidcProviderConfig = z
  .object({
    id: z.string().regex(PROVIDER_ID, 'must be 1 to 32 characters: lower-case letters, digits, - and _ (starting with a letter or digit)'),
    displayName: z.string().trim().min(1).max(50),
    /** The issuer identifier; its discovery document is `<issuer>/.well-known/openid-configuration`. */
    issuer: issuerUrl,
    clientId: z.string().min(1).max(500),
    /** The client secret; for Apple a JWT signed with the team's key, unless appleClientSecretKey makes them. */
    clientSecret: z.string().min(1).max(4000).optional(),
    /**
     * Apple: the Sign in with Apple key that signs the client secret (a JWT, ES256), instead of a
     * clientSecret made by hand: a fresh one, valid 5 minutes, is signed for each code exchange.
     */
    appleClientSecretKey: z
      .object({
        teamId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character Apple team id'),
        keyId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key id'),
        privateKey: z.string().max(4000).refine(isP256PrivateKey, 'must be a P-256 private key in PKCS#8 PEM (the .p8 file Apple gives)'),
      })
      .strict()
      .optional(),
    /** How the client secret is sent to the token endpoint: HTTP Basic (default) or in the form body (Apple accepts only this). */
    tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /**
     * How the provider sends the browser back: `query` (a GET to the web app's callback, the
     * default) or `form_post` (a POST to FORM_POST_PATH, which Apple requires when it is asked for
     * the email or name).
     */
    responseMode: z.enum(['query', 'form_post']).default('query'),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be scope tokens'))
      .max(20)
      .default(['openid', 'email', 'profile'])
      .refine((scopes) => scopes.includes('openid'), 'must include openid'),
  })
  .strict()
  .refine((p) => (p.clientSecret === undefined) !== (p.appleClientSecretKey === undefined), {
    message: 'needs exactly one of clientSecret and appleClientSecretKey',
  });
export type OidcProviderConfig = z.output<typeof OidcProviderConfig>;

function isP256PrivateKey(pem: string): boolean {
  try {
    const key = createPrivateKey(pem);
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  } catch {
    return false;
  }
}

/** The most providers a configuration may name; a user links at most one identity per provider, so also the most `linkedProviders`. */
export const MAX_OIDC_PROVIDERS = 20;

export const OidcProviderList = z
  .array(OidcProviderConfig)
  .max(MAX_OIDC_PROVIDERS)
  .refine((list) => new Set(list.map((p) => p.id)).size === list.length, 'provider ids must be unique');

/**
 * OIDC_PROVIDERS as the environment holds it: a JSON array (empty or unset: no social sign-in).
 * Answers the zod result so config.ts reports every problem with the variable's name.
 */
export function parseProviderList(raw: unknown): unknown {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== 'string') return raw;
  if (raw.trim() === '') return [];
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return 'not JSON';
  }
}

/** Where a `form_post` provider POSTs its answer (on the web app's origin; the gateway forwards it to identity). */
export const FORM_POST_PATH = '/oidc/form-post';
/** The web app's page that completes a sign-in; FORM_POST_PATH sends the browser on to it. */
export const WEB_CALLBACK_PATH = '/auth/callback';

/** The redirect URI the provider is given: the web app's callback, or for `form_post` FORM_POST_PATH on its origin. */
export function providerRedirectUri(provider: Pick<OidcProviderConfig, 'responseMode'>, redirectUri: string): string {
  return provider.responseMode === 'form_post' ? new URL(FORM_POST_PATH, redirectUri).href : redirectUri;
}

const FORWARDED_FIELDS = ['code', 'state', 'iss', 'error', 'error_description'] as const;

/**
 * A `form_post` answer (the form body a provider's page POSTs) as the web callback it continues
 * at: the same fields in the query of WEB_CALLBACK_PATH, each at most 4096 characters; anything
 * else it carried (Apple's `user` JSON, an `id_token`) is dropped.
 */
export function formPostCallback(body: string): string {
  const form = new URLSearchParams(body);
  const query = new URLSearchParams();
  for (const field of FORWARDED_FIELDS) {
    const value = form.get(field);
    if (value !== null && value.length <= 4096) query.set(field, value);
  }
  if (!query.has('error') && !(query.has('code') && query.has('state'))) query.set('error', 'invalid_request');
  return `${WEB_CALLBACK_PATH}?${query.toString()}`;
}

/**
 * A redirect URI is accepted only when it is exactly one of the allow-list's entries: no prefix
 * match, no normalisation an attacker could play with.
 */
export function isAllowedRedirectUri(allowList: readonly string[], redirectUri: string): boolean {
  return redirectUri.length <= 2000 && allowList.includes(redirectUri);
}

/** Apple sends `email_verified` (and `is_private_email`) as the strings "true"/"false"; others as booleans. */
export function claimIsTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

const emailShape = z.email();

/** What a verified ID token says about the person, as the linking rule reads it. */
export interface IdentityClaims {
  subject: string;
  /** A syntactically valid email (trimmed), or null when the provider shared none. */
  email: string | null;
  emailVerified: boolean;
  /** A name to show, when the provider gave one. */
  name: string | null;
}

/** The claims of a verified ID token, read defensively: anything malformed counts as absent. */
export function identityClaims(payload: Record<string, unknown>): IdentityClaims | null {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) return null;
  const rawEmail = typeof payload.email === 'string' ? payload.email.trim() : '';
  const email = rawEmail.length > 0 && rawEmail.length <= 254 && emailShape.safeParse(rawEmail).success ? rawEmail : null;
  const rawName = [payload.name, payload.preferred_username, payload.nickname].find((v): v is string => typeof v === 'string' && v.trim().length > 0);
  const name = rawName ? rawName.trim().slice(0, 100) : null;
  return { subject: sub, email, emailVerified: email !== null && claimIsTrue(payload.email_verified), name };
}

/** The display name of an account a provider creates: the provider's name, else the email's local part. */
export function displayNameFor(claims: IdentityClaims): string {
  const fromEmail = claims.email?.split('@')[0]?.trim();
  return (claims.name ?? (fromEmail || 'Listener')).slice(0, 100);
}

export type SocialSignInDecision =
  /** The (provider, subject) is already linked: sign that account in. */
  | { kind: 'sign-in'; userId: string }
  /**
   * The provider vouches for the email of an existing account: link the identity to it and sign in.
   * `claimAccount` when the account never proved that email: whoever registered it (perhaps someone
   * squatting the address before its owner arrived) loses its password and sessions, and the email
   * counts as verified from now on.
   */
  | { kind: 'link'; userId: string; claimAccount: boolean }
  /** No account has the email: create one with it. */
  | { kind: 'create' }
  /** An account has the email but the provider does not say it is verified: linking would hand the account to whoever typed the address. */
  | { kind: 'refuse'; reason: 'email-not-verified' }
  /** Nothing to link by and nothing to create with. */
  | { kind: 'refuse'; reason: 'no-email' };

/**
 * The linking rule. A linked identity always signs in its own account; otherwise an existing
 * account with the same email is linked only when the provider marks the email verified, and a
 * new account is created only when no account has the email.
 */
export function decideSocialSignIn(input: {
  /** The account this (provider, subject) is linked to, if any. */
  linkedUserId: string | null;
  claims: Pick<IdentityClaims, 'email' | 'emailVerified'>;
  /** The account whose email equals the claims' email (compared normalised), if any. */
  emailOwnerId: string | null;
  /** Whether that account has verified its email itself. */
  emailOwnerVerified: boolean;
}): SocialSignInDecision {
  if (input.linkedUserId) return { kind: 'sign-in', userId: input.linkedUserId };
  if (!input.claims.email) return { kind: 'refuse', reason: 'no-email' };
  if (input.emailOwnerId) {
    return input.claims.emailVerified
      ? { kind: 'link', userId: input.emailOwnerId, claimAccount: !input.emailOwnerVerified }
      : { kind: 'refuse', reason: 'email-not-verified' };
  }
  return { kind: 'create' };
}
