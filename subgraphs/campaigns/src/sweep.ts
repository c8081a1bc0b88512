import { startPeriodic, type Logger, type PeriodicTask } from '@vibestream/platform';
import type { CollectionDeployments } from './nft/deployment.ts';
import type { NftMinting } from './nft/minting.ts';
import type { CampaignsService } from './service/campaigns.ts';

export interface SweepTargets {
  campaigns: CampaignsService;
  /** The chain saga, when a chain is configured. */
  deployments: CollectionDeployments | null;
  minting: NftMinting | null;
}

/**
 * Persists ENDED for ACTIVE campaigns past endsAt, and finishes pending collection deployments and
 * retries PENDING mints whose last attempt is older than the lease (taking the lease atomically, so
 * replicas do not drive the same one at once).
 */
export async function sweep({ campaigns, deployments, minting }: SweepTargets): Promise<{ ended: number; deployed: number; retried: number }> {
  const ended = await campaigns.endOverdue();
  const deployed = deployments ? await deployments.finishDue() : 0;
  const retried = minting ? await minting.retryDue() : 0;
  return { ended, deployed, retried };
}

/** Runs the sweep at start and then every `intervalMs`, never two at once. */
export function startSweeper(targets: SweepTargets, intervalMs: number, log: Logger): PeriodicTask {
  return startPeriodic(
    async () => {
      const { ended, deployed, retried } = await sweep(targets);
      if (ended + deployed + retried > 0) log.info({ ended, deployed, retried }, 'campaign sweep');
    },
    { intervalMs, log, failureMessage: 'campaign sweep failed' },
  );
}
