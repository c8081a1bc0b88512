import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

export const identityConfigShape = {
  ...subgraphConfigShape(4001),
  /** Ed25519 private key (PKCS#8 PEM) that signs access tokens. */
  JWT_PRIVATE_KEY: env.string(),
  ACCESS_TOKEN_TTL_SECONDS: env.int(900, 30),
  REFRESH_TOKEN_TTL_DAYS: env.int(30, 1),
  /** log2 of scrypt's N; 17 (128 MiB, ~0.3 s) follows OWASP's guidance. */
  PASSWORD_SCRYPT_LOG2N: env.int(17, 10),
  LOGIN_MAX_FAILURES_PER_EMAIL: env.int(5, 1),
  LOGIN_MAX_FAILURES_PER_ADDRESS: env.int(30, 1),
  LOGIN_FAILURE_WINDOW_SECONDS: env.int(900, 1),
  WALLET_CHALLENGE_TTL_SECONDS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(30).max(600).default(300)),
  /** The gateway's public address: the domain and URI wallet challenges name. */
  PUBLIC_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url().default('http://localhost:4000')),
  ADMIN_EMAIL: env.optionalString(),
  ADMIN_PASSWORD: env.optionalString(),
  /**
   * Shared secret the gateway sends (`x-internal-token`) to check partners' API keys on
   * POST /internal/api-keys/verify. At least 32 characters; required in production, otherwise
   * a development secret kept in `.data/keys/internal-api-token.secret` (the gateway reads the same).
   */
  INTERNAL_API_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(32).optional()),
};

export type IdentityConfig = ReturnType<typeof loadIdentityConfig>;

export function loadIdentityConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(identityConfigShape, source);
  if (config.NODE_ENV === 'production' && !config.INTERNAL_API_TOKEN) {
    throw new Error('Invalid configuration:\n  - INTERNAL_API_TOKEN: is required in production');
  }
  return config;
}
