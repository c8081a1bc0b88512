import { baseConfigShape, env, loadConfig, z } from '@vibestream/platform';

export const ownershipConfigShape = {
  ...baseConfigShape,
  PORT: env.port(4004),
  HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('0.0.0.0')),
  DATABASE_URL: env.url(),
  /** The taker pays this share of each trade's value, in basis points (50 = 0.5%). */
  TAKER_FEE_BPS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(1000).default(50)),
  GRAPHQL_INTROSPECTION: env.optionalBool(),
  OUTBOX_RELAY_INTERVAL_MS: env.int(250, 10),
};

export type OwnershipConfig = ReturnType<typeof loadOwnershipConfig>;

export function loadOwnershipConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(ownershipConfigShape, source);
}
