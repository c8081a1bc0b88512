import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const campaignsConfigShape = {
  ...subgraphConfigShape(4006),
  /** The gateway's public address: token metadata URLs (the collections' baseURI) point at it. */
  PUBLIC_URL: z.preprocess(optional, z.url().default('http://localhost:4000')),
  /** With ETH_RPC_URL and NFT_DEPLOYER_PRIVATE_KEY set, activation deploys the drop's contract and claims mint on chain. */
  ETH_RPC_URL: env.optionalUrl(),
  NFT_DEPLOYER_PRIVATE_KEY: z.preprocess(optional, z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key').optional()),
  /** Blocks a deployment or mint needs before it counts. */
  NFT_CONFIRMATIONS: env.int(1, 1),
  /** How long a claim or an activation waits for its transaction's receipt before answering (PENDING mint / DRAFT still deploying; the sweep finishes it). */
  NFT_RECEIPT_TIMEOUT_MS: env.int(120_000, 100),
  /** How often ACTIVE campaigns past endsAt are persisted as ENDED, pending collection deployments finished and PENDING mints retried. */
  CAMPAIGN_SWEEP_INTERVAL_MS: env.int(30_000, 50),
};

export type CampaignsConfig = ReturnType<typeof loadCampaignsConfig>;

export function loadCampaignsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(campaignsConfigShape, source);
  if (Boolean(config.ETH_RPC_URL) !== Boolean(config.NFT_DEPLOYER_PRIVATE_KEY)) {
    throw new Error('Invalid configuration:\n  - ETH_RPC_URL and NFT_DEPLOYER_PRIVATE_KEY: set both to mint campaign NFTs on chain, or neither');
  }
  return config;
}
