import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const campaignsConfigShape = {
  ...subgraphConfigShape(4006),
  PUBLIC_URL: z
    .preprocess(optional, z.url().default('http://localhost:4000'))
    .describe("The gateway's public address: collections' tokenURIs point at PUBLIC_URL/nft/... (the gateway forwards /nft/* to campaigns)."),
  ETH_RPC_URL: env
    .optionalUrl()
    .describe('JSON-RPC URL of the chain campaign NFTs are deployed and minted on; set it and NFT_DEPLOYER_PRIVATE_KEY, or neither.'),
  NFT_DEPLOYER_PRIVATE_KEY: z
    .preprocess(
      optional,
      z
        .string()
        .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key')
        .optional(),
    )
    .describe('Private key (0x + 64 hex digits) of the account that deploys the collections, owns them and pays for the mints.'),
  NFT_CONFIRMATIONS: env.int(1, 1).describe('Confirmations a deployment or mint needs before it counts.'),
  NFT_RECEIPT_TIMEOUT_MS: env
    .int(120_000, 100)
    .describe(
      "How long a claim waits for its mint, and an activation for its collection's deployment, before answering PENDING / DRAFT with nftDrop.deploying (the sweep finishes either), in milliseconds.",
    ),
  CAMPAIGN_SWEEP_INTERVAL_MS: env
    .int(30_000, 50)
    .describe('How often campaigns past endsAt are persisted as ENDED, pending deployments finished and PENDING mints retried, in milliseconds.'),
};

export type CampaignsConfig = ReturnType<typeof loadCampaignsConfig>;

export function loadCampaignsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(campaignsConfigShape, source);
  if (Boolean(config.ETH_RPC_URL) !== Boolean(config.NFT_DEPLOYER_PRIVATE_KEY)) {
    throw new Error('Invalid configuration:\n  - ETH_RPC_URL and NFT_DEPLOYER_PRIVATE_KEY: set both to mint campaign NFTs on chain, or neither');
  }
  return config;
}
