import { defineSubgraph, sendJson, type HttpRoute, type Persistence } from '@vibestream/platform';
import { computeAddress } from 'ethers';
import { loadCollectionArtifact } from './chain/artifact.ts';
import { CampaignChain } from './chain/collections.ts';
import { loadCampaignsConfig } from './config.ts';
import { campaignsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { CollectionDeployments } from './nft/deployment.ts';
import { NftMetadata } from './nft/metadata.ts';
import { NftMinting } from './nft/minting.ts';
import { resolvers, type CampaignsContext } from './resolvers.ts';
import { CampaignsService } from './service/campaigns.ts';
import * as store from './store.ts';
import { startSweeper } from './sweep.ts';

export const campaignsSubgraph = defineSubgraph({
  name: 'campaigns',
  defaultPort: 4006,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadCampaignsConfig,
  database: { migrations, poolSize: 20 },
  setup: ({ persistence, config, log, projections }) => {
    const db = persistence;
    const chain =
      config.ETH_RPC_URL && config.NFT_DEPLOYER_PRIVATE_KEY
        ? new CampaignChain({
            rpcUrl: config.ETH_RPC_URL,
            privateKey: config.NFT_DEPLOYER_PRIVATE_KEY,
            artifact: loadCollectionArtifact(),
            confirmations: config.NFT_CONFIRMATIONS,
            receiptTimeoutMs: config.NFT_RECEIPT_TIMEOUT_MS,
            exclusive: deployerLock(db, config.NFT_DEPLOYER_PRIVATE_KEY),
            log,
          })
        : null;
    const metadata = new NftMetadata(db, config.PUBLIC_URL);
    // The deployment and minting saga runs only with a chain; its leftovers wait for one otherwise.
    const chainLeaseMs = config.NFT_RECEIPT_TIMEOUT_MS + config.CAMPAIGN_SWEEP_INTERVAL_MS;
    const deployments = chain ? new CollectionDeployments({ db, chain, log, metadata, leaseMs: chainLeaseMs }) : null;
    const minting = chain ? new NftMinting({ db, chain, log, leaseMs: chainLeaseMs }) : null;
    const campaigns = new CampaignsService({ db, log, projections, deployments, minting });
    return {
      handlers: campaignsHandlers(db),
      context: ({ em: _em, ...base }): CampaignsContext => ({ ...base, campaigns, metadata, loaders: createLoaders(db.reader(), base.principal) }),
      routes: [tokenMetadataRoute(metadata)],
      background: () => startSweeper({ campaigns, deployments, minting }, config.CAMPAIGN_SWEEP_INTERVAL_MS, log),
      stop: async () => {
        await chain?.close();
      },
    };
  },
});

/** GET /nft/<campaignId>/<tokenId>: a minted edition's ERC-721 metadata (the collections' tokenURI). */
function tokenMetadataRoute(metadata: NftMetadata): HttpRoute {
  return {
    method: 'GET',
    path: '/nft/',
    handle: async (req, res) => {
      const [campaignId = '', tokenId = '', ...rest] = ((req.url ?? '').split('?')[0] ?? '').slice('/nft/'.length).split('/');
      const token = rest.length === 0 ? await metadata.tokenMetadata(campaignId, tokenId) : null;
      if (!token) return sendJson(res, 404, { error: 'not found' });
      res.setHeader('cache-control', 'public, max-age=300');
      return sendJson(res, 200, token);
    },
  };
}

/** Serialises sends from one deployer key across replicas: a transaction-scoped advisory lock per key, held while the send runs. */
function deployerLock(db: Persistence, privateKey: string) {
  const key = `campaigns:deployer:${computeAddress(privateKey)}`;
  // The send's own use cases (recording the signed transaction) commit on their own, before the broadcast.
  return <T>(send: () => Promise<T>): Promise<T> => db.holding((tx) => store.lockDeployer(tx, key), send);
}
