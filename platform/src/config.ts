import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { LOOPBACK_RANGES, isAddressRange } from './addresses.ts';

export { z };

/** One bad or missing environment variable. */
export interface ConfigIssue {
  variable: string;
  message: string;
}

/** Bad configuration, one line per variable; thrown before anything starts. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly problems: string[];
  constructor(problems: (string | ConfigIssue)[]) {
    const issues = problems.map((p) => (typeof p === 'string' ? issueFromLine(p) : p));
    const lines = issues.map((i) => (i.variable ? `${i.variable}: ${i.message}` : i.message));
    super(`Invalid configuration:\n${lines.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
    this.problems = lines;
  }
}

/** "NAME: message" (or "A, B and C: message") as an issue about its first variable. */
function issueFromLine(line: string): ConfigIssue {
  const match = /^([A-Z][A-Z0-9_]*)[^:]*: (.*)$/.exec(line);
  return match ? { variable: line.slice(0, line.indexOf(': ')), message: match[2]! } : { variable: '', message: line };
}

/** Whether `error` is a configuration error (a ConfigError, or an error written as one). */
export function isConfigError(error: unknown): error is Error {
  return error instanceof ConfigError || (error instanceof Error && error.message.startsWith('Invalid configuration:'));
}

const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);
const wholeNumber = () => z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number');

/** Helpers for environment variables, which are always strings. */
export const env = {
  string: () => z.preprocess(emptyAsUndefined, z.string()),
  optionalString: () => z.preprocess(emptyAsUndefined, z.string().optional()),
  url: () => z.preprocess(emptyAsUndefined, z.url()),
  optionalUrl: () => z.preprocess(emptyAsUndefined, z.url().optional()),
  port: (fallback: number) =>
    z.preprocess(emptyAsUndefined, wholeNumber().min(0, 'must be a port, 0 to 65535').max(65535, 'must be a port, 0 to 65535').default(fallback)),
  int: (fallback: number, min = 0) => z.preprocess(emptyAsUndefined, wholeNumber().min(min, `must be ${min} or more`).default(fallback)),
  intRange: (fallback: number, min: number, max: number) =>
    z.preprocess(emptyAsUndefined, wholeNumber().min(min, `must be ${min} to ${max}`).max(max, `must be ${min} to ${max}`).default(fallback)),
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
  logLevel: () => z.preprocess(emptyAsUndefined, z.enum(logLevels).default('info')),
  nodeEnv: () => z.preprocess(emptyAsUndefined, z.enum(['development', 'production', 'test']).default('development')),
  /** An Ed25519 private key in PKCS#8 PEM (access tokens are signed with EdDSA). */
  ed25519PrivateKey: () =>
    z.preprocess(
      emptyAsUndefined,
      z.string().refine((pem) => keyType(() => createPrivateKey(pem)) === 'ed25519', 'must be an Ed25519 private key in PKCS#8 PEM'),
    ),
  /** An Ed25519 public key in SPKI PEM, when set. */
  optionalEd25519PublicKey: () =>
    z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .refine((pem) => keyType(() => createPublicKey(pem)) === 'ed25519', 'must be an Ed25519 public key in SPKI PEM')
        .optional(),
    ),
  /** Comma-separated values, each checked by `item`; unset or blank is undefined. */
  optionalList: <T extends z.ZodType>(item: T) => z.preprocess((v) => (typeof v === 'string' && v.trim() ? commaList(v) : undefined), z.array(item).optional()),
  /** Comma-separated IP addresses and CIDR ranges (TRUSTED_PROXIES); `none` is the empty list. */
  addressRanges: (fallback: string) =>
    z.preprocess(
      (v) => {
        const text = typeof v === 'string' && v.trim() ? v.trim() : fallback;
        return text === 'none' ? [] : commaList(text);
      },
      z.array(z.string().refine(isAddressRange, 'must be IP addresses or CIDR ranges (comma-separated), or none')),
    ),
};

/** `a, b,,c` holds a, b and c: what a comma-separated setting lists. */
function commaList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function keyType(parse: () => KeyObject): string | undefined {
  try {
    return parse().asymmetricKeyType;
  } catch {
    return undefined;
  }
}

/** pino's levels, most severe first; `silent` writes nothing. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/** What every process reads before anything else: how to log, and which kind of deployment this is. */
export const processConfigShape = {
  NODE_ENV: env
    .nodeEnv()
    .describe(
      'development, production or test. In production GraphQL introspection is off on every process unless GRAPHQL_INTROSPECTION turns it on, the gateway serves no Sandbox page (and /graphiql only with introspection on), and nothing is made up for development: no embedded PostgreSQL, demo content or local Stripe, no generated key or secret (identity then requires JWT_PRIVATE_KEY, catalog MEDIA_SIGNING_SECRET, the gateway and the other subgraphs JWKS_URL or JWT_PUBLIC_KEY).',
    ),
  LOG_LEVEL: env.logLevel().describe('Least severe level written to the log: fatal, error, warn, info, debug, trace or silent.'),
  LOG_FORMAT: z
    .preprocess(emptyAsUndefined, z.enum(['pretty', 'json']).optional())
    .describe('pretty (readable lines, coloured in a terminal) or json (one JSON object per line). Default: pretty when stdout is a terminal, json otherwise.'),
};

/** The settings every process shares. */
export const baseConfigShape = {
  ...processConfigShape,
  DATABASE_URL: env
    .optionalUrl()
    .describe(
      "PostgreSQL connection URL (postgres://user:password@host:5432/db); each subgraph keeps its tables in its own schema and migrates it at start-up. Subgraphs require it, but `npm start` and a subgraph's own src/main.ts start an embedded PostgreSQL when it is unset (development only). The gateway does not use it.",
    ),
  REDIS_URL: env
    .optionalUrl()
    .describe(
      'Redis URL (redis://host:6379): event streams (outbox relay and consumers), live events, sign-in failure counting, signed-out sessions; the gateway receives live events for subscriptions and keeps its rate-limit counters there. Unset: all of this stays in memory inside one process, which then needs every context in it (`npm start`).',
    ),
  REDIS_PREFIX: z.preprocess(emptyAsUndefined, z.string().default('vs:')).describe('Prefix of every Redis key and stream this deployment uses.'),
  JWT_PUBLIC_KEY: env
    .optionalEd25519PublicKey()
    .describe(
      "Identity's Ed25519 public key (SPKI PEM) that verifies access tokens; takes precedence over JWKS_URL (identity itself verifies with its own key). With none of JWT_PUBLIC_KEY, JWKS_URL and JWT_PRIVATE_KEY, development runs use the key generated in VIBESTREAM_DATA_DIR/keys.",
    ),
  JWKS_URL: env.optionalUrl().describe("URL of identity's key set (<identity>/.well-known/jwks.json) to verify access tokens with, instead of JWT_PUBLIC_KEY."),
  JWT_ISSUER: z.preprocess(emptyAsUndefined, z.string().default('vibestream-identity')).describe('Issuer (iss) of access tokens, signed and checked.'),
  JWT_AUDIENCE: z.preprocess(emptyAsUndefined, z.string().default('vibestream')).describe('Audience (aud) of access tokens, signed and checked.'),
  METRICS_PORT: z
    .preprocess(emptyAsUndefined, wholeNumber().min(0, 'must be a port, 0 to 65535').max(65535, 'must be a port, 0 to 65535').optional())
    .describe(
      'Port of a listener that serves only GET /metrics (on HOST); /metrics is then not served on the main port. Under `npm start` the gateway and every context share it. Unset: /metrics on the main port (in production only with METRICS_TOKEN).',
    ),
  METRICS_TOKEN: z
    .preprocess(emptyAsUndefined, z.string().min(16, 'must be at least 16 characters').optional())
    .describe(
      'Bearer token (at least 16 characters) every /metrics scrape must send (Authorization: Bearer <token>), wherever /metrics is served; unset: none asked.',
    ),
};

/** The settings every subgraph's runtime reads (see defineSubgraph), listening on `defaultPort` unless PORT says otherwise. */
export function subgraphConfigShape(defaultPort: number) {
  return {
    ...baseConfigShape,
    PORT: env.port(defaultPort).describe('Port the process listens on (a subgraph run as its own process; `npm start` uses <NAME>_PORT instead).'),
    HOST: z.preprocess(emptyAsUndefined, z.string().default('0.0.0.0')).describe('Address the process listens on; `npm start` keeps subgraphs on 127.0.0.1.'),
    DATABASE_URL: env.url().describe('PostgreSQL connection URL (postgres://user:password@host:5432/db); each context keeps its tables in its own schema.'),
    GRAPHQL_INTROSPECTION: env.optionalBool().describe('Answer introspection queries (true/false). Default: on, except in production.'),
    PROJECTION_WAIT_MS: env
      .int(2000, 0)
      .describe(
        "Milliseconds a context waits for its projection of an object another context just created (a song catalog published) before answering NOT_FOUND; woken by the projection's commit. 0: no wait.",
      ),
    OUTBOX_RELAY_INTERVAL_MS: env
      .int(250, 10)
      .describe('Milliseconds between two looks at the outbox for events to publish (a commit also wakes the relay at once).'),
    TRUSTED_PROXIES: env
      .addressRanges(LOOPBACK_RANGES.join(','))
      .describe(
        'IP addresses and CIDR ranges (comma-separated, or none) of the peers whose X-Forwarded-For names the client: the gateway. A request from anyone else counts at its socket address. Default: loopback (127.0.0.0/8,::1), where the gateway reaches the subgraphs under `npm start`.',
      ),
  };
}

/** Where the development conveniences keep their state (the launcher and every process run alone). */
export const developmentConfigShape = {
  VIBESTREAM_DATA_DIR: env
    .optionalString()
    .describe(
      "Where the embedded PostgreSQL's data (postgres/), the development keys and secrets (keys/) and, by default, catalog's media (media/) are kept. Default: .data/ in the project (/data in the container image).",
    ),
  EMBEDDED_POSTGRES_PORT: env.port(54329).describe('Port of the embedded PostgreSQL started when DATABASE_URL is unset (development only).'),
};

/**
 * Validates `source` (process.env by default) against a zod object shape, reporting every
 * bad or missing variable on its own line. Values are never echoed, so secrets stay out of logs.
 */
export function loadConfig<Shape extends z.ZodRawShape>(shape: Shape, source: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<Shape>> {
  const result = z.object(shape).safeParse(source);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue): ConfigIssue => {
    const variable = String(issue.path[0] ?? '(root)');
    const raw = source[variable];
    const missing = issue.code === 'invalid_type' && (raw === undefined || raw === '');
    const within = issue.path.length > 1 ? `item ${issue.path.slice(1).join('.')}: ` : '';
    return { variable, message: missing ? 'is required but not set' : `${within}${issue.message}` };
  });
  throw new ConfigError(issues);
}

/** The problems of every `check` at once (each a config loader), as one ConfigError; other errors are thrown as they are. */
export function collectConfigErrors(checks: (() => unknown)[]): void {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const check of checks) {
    try {
      check();
    } catch (error) {
      if (!isConfigError(error)) throw error;
      const found =
        error instanceof ConfigError
          ? error.issues
          : new ConfigError(
              error.message
                .split('\n')
                .slice(1)
                .map((l) => l.replace(/^\s*- /, '')),
            ).issues;
      for (const issue of found) {
        const key = `${issue.variable}\n${issue.message}`;
        if (!seen.has(key)) issues.push(issue);
        seen.add(key);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
}
