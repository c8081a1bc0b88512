import { defineSubgraph, sendJson, type HttpRoute, type Logger, type MikroORM } from '@vibestream/platform';
import { computeAddress } from 'ethers';
import { loadCollectionArtifact } from './chain/artifact.ts';
import { CampaignChain } from './chain/collections.ts';
import { loadCampaignsConfig } from './config.ts';
import { campaignsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type CampaignsContext } from './resolvers.ts';
import { CampaignsService } from './service.ts';

export const campaignsSubgraph = defineSubgraph({
  name: 'campaigns',
  defaultPort: 4006,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadCampaignsConfig,
  database: { migrations, poolSize: 20 },
  setup: ({ config, log, orm, onEventsCommitted, projections }) => {
    const chain =
      config.ETH_RPC_URL && config.NFT_DEPLOYER_PRIVATE_KEY
        ? new CampaignChain({
            rpcUrl: config.ETH_RPC_URL,
            privateKey: config.NFT_DEPLOYER_PRIVATE_KEY,
            artifact: loadCollectionArtifact(),
            confirmations: config.NFT_CONFIRMATIONS,
            receiptTimeoutMs: config.NFT_RECEIPT_TIMEOUT_MS,
            exclusive: deployerLock(orm, config.NFT_DEPLOYER_PRIVATE_KEY),
            log,
          })
        : null;
    const service = new CampaignsService({
      orm,
      publicUrl: config.PUBLIC_URL,
      chain,
      log,
      onEventsCommitted,
      chainLeaseMs: config.NFT_RECEIPT_TIMEOUT_MS + config.CAMPAIGN_SWEEP_INTERVAL_MS,
      projections,
    });
    return {
      handlers: campaignsHandlers,
      context: (base): CampaignsContext => ({ ...base, service, loaders: createLoaders(base.em, base.principal) }),
      routes: [tokenMetadataRoute(service)],
      background: () => startSweeper(service, config.CAMPAIGN_SWEEP_INTERVAL_MS, log),
      stop: async () => {
        await chain?.close();
      },
    };
  },
});

/** GET /nft/<campaignId>/<tokenId>: a minted edition's ERC-721 metadata (the collections' tokenURI). */
function tokenMetadataRoute(service: CampaignsService): HttpRoute {
  return {
    method: 'GET',
    path: '/nft/',
    handle: async (req, res) => {
      const [campaignId = '', tokenId = '', ...rest] = (req.url ?? '').split('?')[0]!.slice('/nft/'.length).split('/');
      const metadata = rest.length === 0 ? await service.tokenMetadata(campaignId, tokenId) : null;
      if (!metadata) return sendJson(res, 404, { error: 'not found' });
      res.setHeader('cache-control', 'public, max-age=300');
      return sendJson(res, 200, metadata);
    },
  };
}

/** Serialises sends from one deployer key across replicas: a transaction-scoped advisory lock per key. */
function deployerLock(orm: MikroORM, privateKey: string) {
  const key = `campaigns:deployer:${computeAddress(privateKey)}`;
  return <T>(send: () => Promise<T>): Promise<T> =>
    orm.em.fork().transactional(async (tx) => {
      await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [key]);
      return send();
    });
}

/** Runs the sweep at start and then every `intervalMs`, never two at once. */
function startSweeper(service: CampaignsService, intervalMs: number, log: Logger) {
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    running = service
      .sweep()
      .then(({ ended, deployed, retried }) => {
        if (ended + deployed + retried > 0) log.info({ ended, deployed, retried }, 'campaign sweep');
      })
      .catch((error: unknown) => log.error({ err: error }, 'campaign sweep failed'))
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
