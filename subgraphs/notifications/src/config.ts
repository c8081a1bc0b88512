import { ConfigError, env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';
import { webPushConfigProblems, webPushConfigShape } from './push-config.ts';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const notificationsConfigShape = {
  ...subgraphConfigShape(4007),
  REWARD_TOKEN_DECIMALS: env.intRange(18, 0, 36).describe('Decimals of the reward token, to show voucher amounts (base units) as whole tokens ("0.01").'),
  REWARD_TOKEN_SYMBOL: z
    .preprocess(optional, z.string().trim().min(1).max(12).optional())
    .describe('The reward token\'s symbol in notification text (at most 12 characters). Default: "reward tokens".'),
  ...webPushConfigShape,
};

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;

export function loadNotificationsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(notificationsConfigShape, source);
  const problems = webPushConfigProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
