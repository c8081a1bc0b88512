import type { Logger, Persistence } from '@vibestream/platform';
import { DeploymentRevertedError, type CampaignChain, type SignedDeployment } from '../chain/collections.ts';
import { deploymentPending, type CampaignRow } from '../model.ts';
import * as store from '../store.ts';
import { failureMessage, InFlight } from './attempts.ts';
import type { NftMetadata } from './metadata.ts';

export interface CollectionDeploymentsDeps {
  db: Persistence;
  chain: CampaignChain;
  log: Logger;
  metadata: NftMetadata;
  /** A pending deployment is retried by the sweep once this long has passed since its last attempt. */
  leaseMs: number;
}

/** Another deployment was recorded for the campaign while this one was being signed. */
class DeploymentSuperseded extends Error {}

/**
 * Deploys the collections of drops whose campaigns' activations requested one (DRAFT with
 * deploy_requested_at set), with no transaction open while the chain is asked. The signed deployment
 * is recorded before it is broadcast, so that a retry, a concurrent activation or the sweep finishes
 * that same deployment rather than send another; the campaign turns ACTIVE when the receipt arrives.
 */
export class CollectionDeployments {
  private readonly db: Persistence;
  private readonly chain: CampaignChain;
  private readonly log: Logger;
  private readonly metadata: NftMetadata;
  private readonly leaseMs: number;
  private readonly inFlight = new InFlight<CampaignRow>();

  constructor(deps: CollectionDeploymentsDeps) {
    this.db = deps.db;
    this.chain = deps.chain;
    this.log = deps.log;
    this.metadata = deps.metadata;
    this.leaseMs = deps.leaseMs;
  }

  /**
   * Drives the campaign's pending deployment to its end (once per process at a time). Answers the row
   * as it stands afterwards: ACTIVE, still DRAFT and pending when the chain failed or was slow (the
   * sweep goes on), or DRAFT without a request when the deployment reverted.
   */
  finish(campaignId: string): Promise<CampaignRow> {
    return this.inFlight.run(campaignId, () => this.attempt(campaignId));
  }

  /**
   * Finishes the pending deployments whose last attempt is older than the lease, taking the lease
   * atomically so that replicas do not drive the same one at once. Answers how many campaigns it activated.
   */
  async finishDue(): Promise<number> {
    const due = await this.db.useCase((tx) => store.leaseDueDeployments(tx, this.leaseMs / 1000));
    let activated = 0;
    for (const id of due) {
      if ((await this.finish(id)).status === 'ACTIVE') activated++;
    }
    return activated;
  }

  private async attempt(campaignId: string): Promise<CampaignRow> {
    const read = async () => {
      const row = await store.campaign(this.db.reader(), campaignId);
      if (!row) throw new Error(`campaign ${campaignId} of a deployment is gone`);
      return row;
    };
    // Another process may record or replace the signed deployment meanwhile: then follow theirs.
    for (let round = 0; round < 3; round++) {
      const c = await read();
      if (!deploymentPending(c)) return c;
      try {
        const sent = sentDeployment(c);
        const { dropName, dropSymbol, editionSize } = dropOf(c);
        const { txHash, contractAddress } = await this.chain.deployCollection({
          name: dropName,
          symbol: dropSymbol,
          editionSize,
          baseTokenUri: this.metadata.tokenUri(c.id, ''),
          sent,
          onSigned: async (d) => {
            // Recorded only if no other deployment was recorded meanwhile (else it is not broadcast).
            const recorded = await this.db.useCase((tx) => store.recordSignedDeployment(tx, campaignId, d, sent?.txHash ?? null));
            if (!recorded) throw new DeploymentSuperseded();
          },
        });
        const active = await this.db.useCase((tx) => store.activateDeployed(tx, campaignId, contractAddress, txHash));
        if (active) {
          this.log.info({ campaignId, contractAddress, txHash }, 'campaign activated with its collection');
          return active;
        }
      } catch (error) {
        if (error instanceof DeploymentSuperseded) continue;
        const message = failureMessage(error);
        if (error instanceof DeploymentRevertedError) {
          this.log.error({ err: error, campaignId }, 'campaign collection deployment reverted; the campaign is DRAFT again');
          await this.db.useCase((tx) => store.withdrawDeployment(tx, campaignId, error.txHash, message));
        } else {
          this.log.error({ err: error, campaignId }, 'campaign collection deployment not confirmed; the sweep finishes it');
          await this.db.useCase((tx) => store.deploymentFailed(tx, campaignId, message)).catch(() => undefined);
        }
        return read();
      }
    }
    return read();
  }
}

/** The deployment recorded for the campaign (signed, perhaps broadcast), or null when none was. */
function sentDeployment(c: CampaignRow): SignedDeployment | null {
  if (c.deploy_tx_hash === null) return null;
  if (c.deploy_address === null || c.deploy_raw_tx === null || c.deploy_nonce === null) throw new Error(`campaign ${c.id}'s recorded deployment is incomplete`);
  return { txHash: c.deploy_tx_hash, nonce: Number(c.deploy_nonce), contractAddress: c.deploy_address, rawTx: c.deploy_raw_tx };
}

/** The drop a pending deployment deploys the collection of. */
function dropOf(c: CampaignRow): { dropName: string; dropSymbol: string; editionSize: number } {
  if (c.drop_name === null || c.drop_symbol === null || c.edition_size === null) throw new Error(`campaign ${c.id} has no NFT drop to deploy`);
  return { dropName: c.drop_name, dropSymbol: c.drop_symbol, editionSize: c.edition_size };
}
