import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);
const baseUnits = (fallback: string) => z.preprocess(optional, z.string().regex(/^\d+$/, 'must be a whole number of base units').default(fallback));

export const rewardsConfigShape = {
  ...subgraphConfigShape(4003),
  REWARD_PER_LISTEN: baseUnits('10000000000000000').describe(
    "What one voucher is worth, in the token's base units (default: 0.01 of an 18-decimal token); fixed for an epoch (a UTC day) when its pool is created.",
  ),
  EPOCH_BUDGET: baseUnits('1000000000000000000000').describe(
    "Budget each new epoch's pool starts with, in base units (default: 1,000 18-decimal tokens); fundRewardPool (ADMIN) and rewards.pool.funded.v1 events add to it.",
  ),
  HEARTBEAT_INTERVAL_SECONDS: env
    .int(15, 1)
    .describe("Expected time between a listen session's heartbeats, in seconds; a gap of more than two intervals ends the session's credit."),
  HEARTBEAT_TOLERANCE_SECONDS: env
    .int(2, 0)
    .describe("Slack added once to wall-clock time when crediting a session: its credit never exceeds the server's time since it started plus this."),
  MIN_LISTEN_SECONDS: env.int(30, 1).describe('Credited listening a session needs to earn a voucher, in seconds (the whole song when shorter).'),
  DAILY_VOUCHER_CAP: env.int(200, 1).describe('Vouchers one listener can earn per epoch.'),
  SONG_DAILY_VOUCHER_CAP: env.int(3, 1).describe('Vouchers one listener can earn per song per epoch.'),
  ROOT_HISTORY: env.int(128, 1).describe('Recent Merkle roots kept per epoch, so a proof made against a slightly older root still claims.'),
  VERIFIER_THREADS: env.int(2, 1).describe('Worker threads verifying Groth16 proofs.'),
  ETH_RPC_URL: env
    .optionalUrl()
    .describe('JSON-RPC URL of the chain claims are paid on; set it, REWARD_TOKEN_ADDRESS and PAYOUT_PRIVATE_KEY to pay claims on chain, or none of them.'),
  REWARD_TOKEN_ADDRESS: z
    .preprocess(
      optional,
      z
        .string()
        .regex(/^0x[0-9a-fA-F]{40}$/)
        .optional(),
    )
    .describe("The reward ERC-20's address (0x + 40 hex digits)."),
  PAYOUT_PRIVATE_KEY: z
    .preprocess(
      optional,
      z
        .string()
        .regex(/^0x[0-9a-fA-F]{64}$/)
        .optional(),
    )
    .describe('Private key (0x + 64 hex digits) of the account that holds the reward tokens and sends the payouts.'),
  PAYOUT_CONFIRMATIONS: env.int(1, 1).describe('Confirmations a payout transfer needs before its claim is PAID.'),
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
