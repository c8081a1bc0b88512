import { defineSubgraph, type Logger, type MikroORM } from '@vibestream/platform';
import { DEPTH, artifacts, poseidon2 } from '@vibestream/circuits';
import { loadRewardsConfig } from './config.ts';
import { rewardsHandlers } from './handlers.ts';
import { migrations } from './migrations.ts';
import { Erc20Payer } from './payout/erc20-payer.ts';
import { claimPayoutStore } from './payout-store.ts';
import { createLoaders, resolvers, type RewardsContext } from './resolvers.ts';
import { RewardsService } from './service.ts';
import { EpochTrees } from './tree.ts';
import { ProofVerifierPool } from './verifier.ts';

/** The circuit's depth: fixed by circuits/listen_reward.circom. */
export const TREE_DEPTH = DEPTH;

export const rewardsSubgraph = defineSubgraph({
  name: 'rewards',
  defaultPort: 4003,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadRewardsConfig,
  database: { migrations },
  setup: ({ config, log, infra, orm, onEventsCommitted, projections }) => {
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
    const service = new RewardsService({
      orm,
      config,
      trees: new EpochTrees(TREE_DEPTH, poseidon2, config.ROOT_HISTORY),
      verifier: proofs,
      payer,
      live: infra.live,
      log,
      onEventsCommitted,
      projections,
    });
    return {
      handlers: rewardsHandlers({ rewardPerListen: config.REWARD_PER_LISTEN, epochBudget: config.EPOCH_BUDGET }),
      context: (base): RewardsContext => ({ ...base, service, config, loaders: createLoaders(base.em) }),
      background: () => {
        if (payer) void resumePayouts(orm, payer, log);
      },
      stop: async () => {
        await proofs.close();
        await payer?.close();
      },
    };
  },
});

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
