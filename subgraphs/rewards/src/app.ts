import {
  OutboxRelay,
  createInfra,
  createLogger,
  verifierFromConfig,
  loadSchemaFile,
  openDatabase,
  startConsumer,
  startSubgraphServer,
  type Logger,
  type MikroORM,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { DEPTH, artifacts, poseidon2 } from '../../../circuits/index.ts';
import { loadRewardsConfig } from './config.ts';
import { rewardsHandlers } from './handlers.ts';
import { migrations } from './migrations.ts';
import { Erc20Payer } from './payout/erc20-payer.ts';
import { claimPayoutStore } from './payout-store.ts';
import { createLoaders, resolvers, type RewardsContext } from './resolvers.ts';
import { RewardsService } from './service.ts';
import { EpochTrees } from './tree.ts';
import { ProofVerifierPool } from './verifier.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

/** The circuit's depth: fixed by circuits/listen_reward.circom. */
export const TREE_DEPTH = DEPTH;

async function start(options: SubgraphStartOptions) {
  const config = loadRewardsConfig(options.env);
  const log = options.log ?? createLogger('rewards', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({
    url: config.DATABASE_URL,
    schema: 'rewards',
    entities: [],
    migrations,
    log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const verifier = await verifierFromConfig(config);
  const proofs = new ProofVerifierPool(artifacts.verificationKey, config.VERIFIER_THREADS);
  const payer =
    config.ETH_RPC_URL && config.REWARD_TOKEN_ADDRESS && config.PAYOUT_PRIVATE_KEY
      ? new Erc20Payer({
          rpcUrl: config.ETH_RPC_URL,
          tokenAddress: config.REWARD_TOKEN_ADDRESS,
          privateKey: config.PAYOUT_PRIVATE_KEY,
          confirmations: config.PAYOUT_CONFIRMATIONS,
          store: claimPayoutStore(orm),
          log,
        })
      : null;
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const service = new RewardsService({
    orm,
    config,
    trees: new EpochTrees(TREE_DEPTH, poseidon2, config.ROOT_HISTORY),
    verifier: proofs,
    payer,
    live: infra.live,
    log,
    onEventsCommitted: () => relay.kick(),
  });
  relay.start();
  if (payer) void resumePayouts(orm, payer, log);
  const consumer = startConsumer({
    orm,
    transport: infra.transport,
    group: 'rewards',
    handlers: rewardsHandlers({ rewardPerListen: config.REWARD_PER_LISTEN, epochBudget: config.EPOCH_BUDGET }),
    log,
  });

  const server = await startSubgraphServer<RewardsContext>({
    name: 'rewards',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, service, config, loaders: createLoaders(em) };
    },
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'rewards',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await consumer.stop();
      await relay.stop();
      await proofs.close();
      await payer?.close();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

/**
 * Claims a previous process left unpaid (it stopped between recording a claim and its receipt):
 * the payer rebroadcasts a signed transfer or signs the first one, never a second.
 */
async function resumePayouts(orm: MikroORM, payer: Erc20Payer, log: Logger): Promise<void> {
  try {
    const pending = (await orm.em.fork().execute(`select id from claims where status = 'PENDING' order by nonce nulls last, created_at`)) as { id: string }[];
    for (const { id } of pending) await payer.pay(id).catch((error: unknown) => log.error({ err: error, claimId: id }, 'resumed payout failed'));
  } catch (error) {
    log.error({ err: error }, 'could not resume pending payouts');
  }
}

export const rewardsSubgraph: SubgraphModule = { name: 'rewards', defaultPort: 4003, sdl, typeDefs, start };
