import {
  OutboxRelay,
  createInfra,
  createLogger,
  loadSchemaFile,
  openDatabase,
  sendJson,
  startConsumer,
  startSubgraphServer,
  verifierFromConfig,
  type HttpRoute,
  type Logger,
  type MikroORM,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { computeAddress } from 'ethers';
import { loadCollectionArtifact } from './chain/artifact.ts';
import { CampaignChain } from './chain/collections.ts';
import { loadCampaignsConfig } from './config.ts';
import { campaignsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type CampaignsContext } from './resolvers.ts';
import { CampaignsService } from './service.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

async function start(options: SubgraphStartOptions) {
  const config = loadCampaignsConfig(options.env);
  const log = options.log ?? createLogger('campaigns', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({
    url: config.DATABASE_URL,
    schema: 'campaigns',
    entities: [],
    migrations,
    log,
    poolSize: 20,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const verifier = await verifierFromConfig(config);
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
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const service = new CampaignsService({
    orm,
    publicUrl: config.PUBLIC_URL,
    chain,
    log,
    onEventsCommitted: () => relay.kick(),
    mintLeaseMs: config.NFT_RECEIPT_TIMEOUT_MS + config.CAMPAIGN_SWEEP_INTERVAL_MS,
  });
  relay.start();
  const consumer = startConsumer({ orm, transport: infra.transport, group: 'campaigns', handlers: campaignsHandlers, log });
  const sweeper = startSweeper(service, config.CAMPAIGN_SWEEP_INTERVAL_MS, log);

  const server = await startSubgraphServer<CampaignsContext>({
    name: 'campaigns',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, service, loaders: createLoaders(em, base.principal) };
    },
    routes: [tokenMetadataRoute(service)],
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'campaigns',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await sweeper.stop();
      await consumer.stop();
      await relay.stop();
      await chain?.close();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

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
      .then(({ ended, retried }) => {
        if (ended + retried > 0) log.info({ ended, retried }, 'campaign sweep');
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

export const campaignsSubgraph: SubgraphModule = { name: 'campaigns', defaultPort: 4006, sdl, typeDefs, start };
