import { baseConfigShape, env, loadConfig, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const notificationsConfigShape = {
  ...baseConfigShape,
  PORT: env.port(4007),
  HOST: z.preprocess(optional, z.string().default('0.0.0.0')),
  DATABASE_URL: env.url(),
  /** Decimals of the reward token, to show voucher amounts (base units) as whole tokens. */
  REWARD_TOKEN_DECIMALS: z.preprocess(optional, z.coerce.number().int().min(0).max(36).default(18)),
  /** The reward token's symbol in notification text; "reward tokens" when unset. */
  REWARD_TOKEN_SYMBOL: z.preprocess(optional, z.string().trim().min(1).max(12).optional()),
  GRAPHQL_INTROSPECTION: env.optionalBool(),
};

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;

export function loadNotificationsConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(notificationsConfigShape, source);
}
