import { env, loadConfig, mailConfigShape, subgraphConfigShape, z } from '@vibestream/platform';
import { OidcProviderList, parseProviderList } from './domain/oidc.ts';

export const identityConfigShape = {
  ...subgraphConfigShape(4001),
  // SMTP_URL, MAIL_FROM, MAIL_ENABLED, PUBLIC_WEB_URL: identity's mails (verification, password reset, change of email).
  ...mailConfigShape,
  JWT_PRIVATE_KEY: env
    .ed25519PrivateKey()
    .describe(
      'Ed25519 private key (PKCS#8 PEM) that signs access tokens; its public half is served at /.well-known/jwks.json. Required in production; otherwise generated once into VIBESTREAM_DATA_DIR/keys.',
    ),
  ACCESS_TOKEN_TTL_SECONDS: env
    .int(900, 30)
    .describe('Lifetime of an access token, in seconds; also how long a signed-out session stays on the revocation list.'),
  REFRESH_TOKEN_TTL_DAYS: env.int(30, 1).describe('Lifetime of a refresh token, in days.'),
  PASSWORD_SCRYPT_LOG2N: env.int(17, 10).describe("log2 of scrypt's cost N for password hashes; 17 (128 MiB, about 0.3 s per hash) follows OWASP's guidance."),
  LOGIN_MAX_FAILURES_PER_EMAIL: env
    .int(5, 1)
    .describe(
      'Failed sign-ins for one email before it is blocked for the window; attempts still being checked count too, so concurrent attempts never exceed it.',
    ),
  LOGIN_MAX_FAILURES_PER_ADDRESS: env.int(30, 1).describe('Failed sign-ins from one client address before it is blocked for the window, counted the same way.'),
  LOGIN_FAILURE_WINDOW_SECONDS: env.int(900, 1).describe('The window sign-in failures are counted in, in seconds.'),
  WALLET_CHALLENGE_TTL_SECONDS: env.intRange(300, 30, 600).describe('How long a wallet-linking challenge can be signed, in seconds.'),
  PUBLIC_URL: z
    .preprocess((v) => (v === '' ? undefined : v), z.url().default('http://localhost:4000'))
    .describe("The gateway's public address: the domain and URI that wallet challenges name."),
  EMAIL_VERIFICATION_TTL_SECONDS: env
    .int(86_400, 1)
    .describe('How long an email verification link (requestEmailVerification, changeEmail) works, in seconds; each link works once.'),
  PASSWORD_RESET_TTL_SECONDS: env.int(3_600, 1).describe('How long a password reset link (requestPasswordReset) works, in seconds; each link works once.'),
  EMAIL_LIMIT_WINDOW_SECONDS: env
    .int(3_600, 1)
    .describe('The window the verification, password-reset and change-of-email requests below are counted in, in seconds.'),
  EMAIL_VERIFICATION_MAX_PER_USER: env.int(3, 1).describe('Verification links one account may ask for (requestEmailVerification) per window.'),
  PASSWORD_RESET_MAX_PER_EMAIL: env
    .int(3, 1)
    .describe('Password resets that may be asked for one email address (any case) per window, whether or not it has an account.'),
  PASSWORD_RESET_MAX_PER_ADDRESS: env.int(20, 1).describe('Password resets one client address may ask for per window, across emails.'),
  EMAIL_CHANGE_MAX_PER_USER: env.int(5, 1).describe('Attempts one account may make to change its email (changeEmail, right password or not) per window.'),
  ADMIN_EMAIL: env
    .optionalString()
    .describe('With ADMIN_PASSWORD: identity makes sure at start-up that this account exists and has the ADMIN role (creating or promoting it).'),
  ADMIN_PASSWORD: env.optionalString().describe("The password of ADMIN_EMAIL's account when identity creates it."),
  WEBAUTHN_RP_ID: z
    .preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'must be a lower-case domain name (no scheme, port or path)')
        .optional(),
    )
    .describe(
      "Passkeys' relying party id: the domain passkeys are bound to (the gateway's public host or a parent domain of it). Default: PUBLIC_URL's hostname. Changing it orphans every passkey already registered.",
    ),
  WEBAUTHN_RP_NAME: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().min(1).max(64).default('VibeStream'))
    .describe('The relying party name a browser or authenticator shows when a passkey is created (1 to 64 characters).'),
  WEBAUTHN_ORIGINS: env
    .optionalList(z.url().refine((u) => /^https?:\/\/[^/?#]+$/.test(u), 'must be origins (scheme://host[:port], no path), comma-separated'))
    .describe(
      "Comma-separated origins (https://app.example.com) a passkey ceremony may come from (the browser's clientDataJSON.origin). Each must be on WEBAUTHN_RP_ID's host or under it (checked at start-up). Default: PUBLIC_URL's origin. Outside production, http://localhost and http://127.0.0.1 on any port are accepted too.",
    ),
  PASSKEY_CHALLENGE_TTL_SECONDS: env
    .intRange(300, 30, 600)
    .describe('How long a passkey registration or sign-in challenge can be answered, in seconds; each is used once.'),
  PASSKEY_SIGNIN_MAX_PER_ADDRESS: env
    .int(60, 1)
    .describe(
      'Passkey sign-ins one client address may start in LOGIN_FAILURE_WINDOW_SECONDS; its failed finishes are counted the same way, against the same limit.',
    ),
  // z.lazy keeps the reference from calling this JSON list "comma-separated".
  OIDC_PROVIDERS: z
    .preprocess(
      parseProviderList,
      z.lazy(() => OidcProviderList),
    )
    .describe(
      'Social sign-in (OpenID Connect, Authorization Code + PKCE): a JSON array of providers, each {"id","displayName","issuer","clientId","clientSecret"} (Apple: "appleClientSecretKey" {"teamId","keyId","privateKey"} instead of "clientSecret", to sign a fresh secret for each exchange) with optional "scopes" (default ["openid","email","profile"]), "tokenEndpointAuthMethod" (client_secret_basic, the default, or client_secret_post) and "responseMode" (query, the default, or form_post: the provider answers at <web app origin>/oidc/form-post, as Apple requires for the email scope). The issuer must be https (http only on localhost/127.0.0.1 outside production); its /.well-known/openid-configuration is read at the first sign-in. Examples for Google, Apple and Discord: docs/operations.md#social-sign-in-openid-connect. Unset or []: no social sign-in.',
    ),
  OIDC_REDIRECT_URIS: env
    .optionalList(z.url().refine((u) => /^https?:/.test(u), 'must be http(s) URLs'))
    .describe(
      "Comma-separated redirect URIs a social sign-in may return to (each registered with every provider); startSocialSignIn refuses any other, compared exactly. Default: the web app's PUBLIC_URL/auth/callback.",
    ),
  OIDC_STATE_TTL_SECONDS: env
    .intRange(600, 60, 1800)
    .describe('How long a social sign-in may take between startSocialSignIn and completeSocialSignIn, in seconds; its state is used once.'),
  OIDC_START_MAX_PER_ADDRESS: env
    .int(30, 1)
    .describe('Social sign-ins one client address may start in OIDC_STATE_TTL_SECONDS (each keeps a state row until it is used or expires).'),
  INTERNAL_API_TOKEN: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().min(32).optional())
    .describe(
      "Secret (at least 32 characters) the gateway must send to identity's POST /internal/api-keys/verify; the gateway's INTERNAL_API_TOKEN, the same value. Required in production; otherwise generated once into VIBESTREAM_DATA_DIR/keys.",
    ),
};

export type IdentityConfig = ReturnType<typeof loadIdentityConfig>;

export function loadIdentityConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(identityConfigShape, source);
  if (config.NODE_ENV === 'production' && !config.INTERNAL_API_TOKEN) {
    throw new Error('Invalid configuration:\n  - INTERNAL_API_TOKEN: is required in production');
  }
  return config;
}
