import type { Logger, MikroORM } from '@vibestream/platform';
import { DeploymentRevertedError, type CampaignChain, type SignedDeployment } from '../chain/collections.ts';
import { deploymentPending, type CampaignRow } from '../model.ts';
import { failureMessage, InFlight } from './attempts.ts';
import type { NftMetadata } from './metadata.ts';

export interface CollectionDeploymentsDeps {
  orm: MikroORM;
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
  private readonly orm: MikroORM;
  private readonly chain: CampaignChain;
  private readonly log: Logger;
  private readonly metadata: NftMetadata;
  private readonly leaseMs: number;
  private readonly inFlight = new InFlight<CampaignRow>();

  constructor(deps: CollectionDeploymentsDeps) {
    this.orm = deps.orm;
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
    const due = (await this.orm.em.fork().execute(
      `update campaigns set deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
       where id in (
         select id from campaigns
         where status = 'DRAFT' and deploy_requested_at is not null and (deploy_last_attempt_at is null or deploy_last_attempt_at < now() - make_interval(secs => ?))
         order by deploy_requested_at limit 20 for update skip locked)
       returning id`,
      [this.leaseMs / 1000],
    )) as { id: string }[];
    let activated = 0;
    for (const { id } of due) {
      if ((await this.finish(id)).status === 'ACTIVE') activated++;
    }
    return activated;
  }

  private async attempt(campaignId: string): Promise<CampaignRow> {
    const read = async () => ((await this.orm.em.fork().execute('select * from campaigns where id = ?', [campaignId])) as CampaignRow[])[0]!;
    // Another process may record or replace the signed deployment meanwhile: then follow theirs.
    for (let round = 0; round < 3; round++) {
      const c = await read();
      if (!deploymentPending(c)) return c;
      const sent: SignedDeployment | null = c.deploy_tx_hash
        ? { txHash: c.deploy_tx_hash, nonce: Number(c.deploy_nonce), contractAddress: c.deploy_address!, rawTx: c.deploy_raw_tx! }
        : null;
      try {
        const { txHash, contractAddress } = await this.chain.deployCollection({
          name: c.drop_name!,
          symbol: c.drop_symbol!,
          editionSize: c.edition_size!,
          baseTokenUri: this.metadata.tokenUri(c.id, ''),
          sent,
          onSigned: async (d) => {
            // Recorded only if no other deployment was recorded meanwhile (else it is not broadcast).
            const recorded = (await this.orm.em.fork().execute(
              `update campaigns set deploy_tx_hash = ?, deploy_nonce = ?, deploy_address = ?, deploy_raw_tx = ?
               where id = ? and status = 'DRAFT' and deploy_requested_at is not null and deploy_tx_hash is not distinct from ? returning id`,
              [d.txHash, d.nonce, d.contractAddress, d.rawTx, campaignId, sent?.txHash ?? null],
            )) as unknown[];
            if (recorded.length === 0) throw new DeploymentSuperseded();
          },
        });
        const [active] = (await this.orm.em.fork().execute(
          `update campaigns set status = 'ACTIVE', activated_at = now(), contract_address = ?, deploy_error = null
           where id = ? and status = 'DRAFT' and deploy_tx_hash = ? returning *`,
          [contractAddress, campaignId, txHash],
        )) as CampaignRow[];
        if (active) {
          this.log.info({ campaignId, contractAddress, txHash }, 'campaign activated with its collection');
          return active;
        }
      } catch (error) {
        if (error instanceof DeploymentSuperseded) continue;
        const message = failureMessage(error);
        if (error instanceof DeploymentRevertedError) {
          this.log.error({ err: error, campaignId }, 'campaign collection deployment reverted; the campaign is DRAFT again');
          await this.orm.em.fork().execute(
            `update campaigns set deploy_requested_at = null, deploy_tx_hash = null, deploy_nonce = null, deploy_address = null, deploy_raw_tx = null, deploy_error = ?
             where id = ? and status = 'DRAFT' and deploy_tx_hash = ?`,
            [message, campaignId, error.txHash],
          );
        } else {
          this.log.error({ err: error, campaignId }, 'campaign collection deployment not confirmed; the sweep finishes it');
          await this.orm.em
            .fork()
            .execute(`update campaigns set deploy_error = ? where id = ? and status = 'DRAFT' and deploy_requested_at is not null`, [message, campaignId])
            .catch(() => undefined);
        }
        return read();
      }
    }
    return read();
  }
}
