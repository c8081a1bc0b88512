import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);
const baseUnits = (fallback: string) => z.preprocess(optional, z.string().regex(/^\d+$/, 'must be a whole number of base units').default(fallback));

export const rewardsConfigShape = {
  ...subgraphConfigShape(4003),
  /** Fixed per epoch when the epoch's pool is created (token base units). */
  REWARD_PER_LISTEN: baseUnits('10000000000000000'),
  /** Budget each new epoch starts with; fundRewardPool and rewards.pool.funded.v1 add to it. */
  EPOCH_BUDGET: baseUnits('1000000000000000000000'),
  HEARTBEAT_INTERVAL_SECONDS: env.int(15, 1),
  HEARTBEAT_TOLERANCE_SECONDS: env.int(2, 0),
  MIN_LISTEN_SECONDS: env.int(30, 1),
  DAILY_VOUCHER_CAP: env.int(200, 1),
  SONG_DAILY_VOUCHER_CAP: env.int(3, 1),
  /** Known roots kept per epoch, so a proof made against a recent root still claims. */
  ROOT_HISTORY: env.int(128, 1),
  /** Worker threads verifying Groth16 proofs. */
  VERIFIER_THREADS: env.int(2, 1),
  /** With ETH_RPC_URL, REWARD_TOKEN_ADDRESS and PAYOUT_PRIVATE_KEY set, claims are paid on chain. */
  ETH_RPC_URL: env.optionalUrl(),
  REWARD_TOKEN_ADDRESS: z.preprocess(optional, z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional()),
  PAYOUT_PRIVATE_KEY: z.preprocess(optional, z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional()),
  PAYOUT_CONFIRMATIONS: env.int(1, 1),
};

export type RewardsConfig = ReturnType<typeof loadRewardsConfig>;

export function loadRewardsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(rewardsConfigShape, source);
  const chain = [config.ETH_RPC_URL, config.REWARD_TOKEN_ADDRESS, config.PAYOUT_PRIVATE_KEY];
  if (chain.some(Boolean) && !chain.every(Boolean)) {
    throw new Error('Invalid configuration:\n  - ETH_RPC_URL, REWARD_TOKEN_ADDRESS and PAYOUT_PRIVATE_KEY: set all three to pay claims on chain, or none');
  }
  return config;
}
