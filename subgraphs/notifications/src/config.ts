import { loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const notificationsConfigShape = {
  ...subgraphConfigShape(4007),
  /** Decimals of the reward token, to show voucher amounts (base units) as whole tokens. */
  REWARD_TOKEN_DECIMALS: z.preprocess(optional, z.coerce.number().int().min(0).max(36).default(18)),
  /** The reward token's symbol in notification text; "reward tokens" when unset. */
  REWARD_TOKEN_SYMBOL: z.preprocess(optional, z.string().trim().min(1).max(12).optional()),
};

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;

export function loadNotificationsConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(notificationsConfigShape, source);
}
