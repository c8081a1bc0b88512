import { z } from 'zod';
import { LOOPBACK_RANGES, isAddressRange } from './addresses.ts';

export { z };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);

/** Helpers for environment variables, which are always strings. */
export const env = {
  string: () => z.preprocess(emptyAsUndefined, z.string()),
  optionalString: () => z.preprocess(emptyAsUndefined, z.string().optional()),
  url: () => z.preprocess(emptyAsUndefined, z.url()),
  optionalUrl: () => z.preprocess(emptyAsUndefined, z.url().optional()),
  port: (fallback: number) => z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(fallback)),
  int: (fallback: number, min = 0) => z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).default(fallback)),
  bool: (fallback: boolean) =>
    z.preprocess(
      emptyAsUndefined,
      z
        .enum(['true', 'false', '1', '0', 'yes', 'no'])
        .default(fallback ? 'true' : 'false')
        .transform((v) => v === 'true' || v === '1' || v === 'yes'),
    ),
  optionalBool: () =>
    z.preprocess(
      emptyAsUndefined,
      z
        .enum(['true', 'false', '1', '0', 'yes', 'no'])
        .optional()
        .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes')),
    ),
  logLevel: () =>
    z.preprocess(emptyAsUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  nodeEnv: () => z.preprocess(emptyAsUndefined, z.enum(['development', 'production', 'test']).default('development')),
  /** Comma-separated IP addresses and CIDR ranges (TRUSTED_PROXIES); `none` is the empty list. */
  addressRanges: (fallback: string) =>
    z.preprocess(
      (v) => {
        const text = typeof v === 'string' && v.trim() ? v.trim() : fallback;
        return text === 'none' ? [] : text.split(',').map((s) => s.trim()).filter(Boolean);
      },
      z.array(z.string().refine(isAddressRange, 'must be IP addresses or CIDR ranges (comma-separated), or none')),
    ),
};

/** The settings every process shares. */
export const baseConfigShape = {
  NODE_ENV: env.nodeEnv(),
  LOG_LEVEL: env.logLevel(),
  DATABASE_URL: env.optionalUrl(),
  REDIS_URL: env.optionalUrl(),
  /** Prefix of every Redis key and stream this deployment uses. */
  REDIS_PREFIX: z.preprocess(emptyAsUndefined, z.string().default('vs:')),
  /** PEM (SPKI) public key of the identity subgraph, or a JWKS URL, used to verify access tokens. */
  JWT_PUBLIC_KEY: env.optionalString(),
  JWKS_URL: env.optionalUrl(),
  JWT_ISSUER: z.preprocess(emptyAsUndefined, z.string().default('vibestream-identity')),
  JWT_AUDIENCE: z.preprocess(emptyAsUndefined, z.string().default('vibestream')),
};

/** The settings every subgraph's runtime reads (see defineSubgraph), listening on `defaultPort` unless PORT says otherwise. */
export function subgraphConfigShape(defaultPort: number) {
  return {
    ...baseConfigShape,
    PORT: env.port(defaultPort),
    HOST: z.preprocess(emptyAsUndefined, z.string().default('0.0.0.0')),
    DATABASE_URL: env.url(),
    /** Subgraph introspection; off in production unless enabled. */
    GRAPHQL_INTROSPECTION: env.optionalBool(),
    /** How often the outbox relay looks for events to publish (a subgraph without an outbox ignores it). */
    OUTBOX_RELAY_INTERVAL_MS: env.int(250, 10),
    /** The peers whose X-Forwarded-For names the client: the gateway (loopback under `npm start`). Anyone else counts at its socket address. */
    TRUSTED_PROXIES: env.addressRanges(LOOPBACK_RANGES.join(',')),
  };
}

/**
 * Validates `source` (process.env by default) against a zod object shape, reporting every
 * bad or missing variable on its own line. Values are never echoed, so secrets stay out of logs.
 */
export function loadConfig<Shape extends z.ZodRawShape>(shape: Shape, source: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<Shape>> {
  const result = z.object(shape).safeParse(source);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(root)';
    const raw = source[String(issue.path[0])];
    const missing = issue.code === 'invalid_type' && (raw === undefined || raw === '');
    return missing ? `${name}: is required but not set` : `${name}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
