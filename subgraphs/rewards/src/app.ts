import { defineSubgraph, type Logger, type Persistence } from '@vibestream/platform';
import { DEPTH, artifacts, poseidon2 } from '@vibestream/circuits';
import { loadRewardsConfig } from './config.ts';
import { rewardsHandlers } from './handlers.ts';
import { migrations } from './migrations.ts';
import { Erc20Payer } from './payout/erc20-payer.ts';
import { claimPayoutStore } from './payout-store.ts';
import { createLoaders } from './loaders.ts';
import { resolvers, type RewardsContext } from './resolvers.ts';
import { RewardsService } from './service.ts';
import * as store from './store.ts';
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
  setup: ({ persistence, config, log, infra, projections }) => {
    const db = persistence;
    const proofs = new ProofVerifierPool(artifacts.verificationKey, config.VERIFIER_THREADS);
    const payer =
      config.ETH_RPC_URL && config.REWARD_TOKEN_ADDRESS && config.PAYOUT_PRIVATE_KEY
        ? new Erc20Payer({
            rpcUrl: config.ETH_RPC_URL,
            tokenAddress: config.REWARD_TOKEN_ADDRESS,
            privateKey: config.PAYOUT_PRIVATE_KEY,
            confirmations: config.PAYOUT_CONFIRMATIONS,
            store: claimPayoutStore(db),
            log,
          })
        : null;
    const service = new RewardsService({
      db,
      config,
      trees: new EpochTrees(TREE_DEPTH, poseidon2, config.ROOT_HISTORY),
      verifier: proofs,
      payer,
      live: infra.live,
      log,
      projections,
    });
    return {
      handlers: rewardsHandlers(db, { rewardPerListen: config.REWARD_PER_LISTEN, epochBudget: config.EPOCH_BUDGET }),
      context: ({ em: _em, ...base }): RewardsContext => ({ ...base, service, config, loaders: createLoaders(db.reader()) }),
      background: () => {
        if (payer) void resumePayouts(db, payer, log);
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
async function resumePayouts(db: Persistence, payer: Erc20Payer, log: Logger): Promise<void> {
  try {
    const pending = await store.pendingClaims(db.reader());
    for (const id of pending) await payer.pay(id).catch((error: unknown) => log.error({ err: error, claimId: id }, 'resumed payout failed'));
  } catch (error) {
    log.error({ err: error }, 'could not resume pending payouts');
  }
}
