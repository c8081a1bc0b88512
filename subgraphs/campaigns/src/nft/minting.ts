import { recordEvent, type EntityManager, type Logger, type MikroORM } from '@vibestream/platform';
import type { CampaignChain } from '../chain/collections.ts';
import { CampaignNftMinted } from '../events.ts';
import type { CampaignRow, MintRow } from '../model.ts';
import { failureMessage, InFlight } from './attempts.ts';

/** The outbox source of the events campaigns publishes. */
const SOURCE = 'campaigns';

export interface NftMintingDeps {
  orm: MikroORM;
  chain: CampaignChain;
  log: Logger;
  onEventsCommitted: () => void;
  /** A PENDING mint is retried by the sweep once this long has passed since its last attempt. */
  leaseMs: number;
}

/**
 * Mints the editions that claims reserved (PENDING) on the drop's collection. A mint that fails keeps
 * its edition reserved for its claimant and the sweep retries it: never a different edition, never a
 * second token (the token id is the edition number, which the contract mints once).
 */
export class NftMinting {
  private readonly orm: MikroORM;
  private readonly chain: CampaignChain;
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;
  private readonly leaseMs: number;
  private readonly inFlight = new InFlight<MintRow>();

  constructor(deps: NftMintingDeps) {
    this.orm = deps.orm;
    this.chain = deps.chain;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
    this.leaseMs = deps.leaseMs;
  }

  /**
   * Mints a PENDING edition (once per process at a time). Answers the row as it stands afterwards:
   * MINTED, or still PENDING when the chain failed or was slow (the sweep retries it).
   */
  mint(mint: MintRow): Promise<MintRow> {
    return this.inFlight.run(`${mint.campaign_id}:${mint.edition_number}`, () => this.attempt(mint));
  }

  /**
   * Retries the PENDING mints whose last attempt is older than the lease, taking the lease atomically so
   * that replicas do not drive the same one at once. Answers how many it retried.
   */
  async retryDue(): Promise<number> {
    const due = (await this.orm.em.fork().execute(
      `update mints set attempts = attempts + 1, last_attempt_at = now()
       where (campaign_id, edition_number) in (
         select campaign_id, edition_number from mints
         where status = 'PENDING' and (last_attempt_at is null or last_attempt_at < now() - make_interval(secs => ?))
         order by reserved_at limit 20 for update skip locked)
       returning *`,
      [this.leaseMs / 1000],
    )) as MintRow[];
    for (const mint of due) await this.mint(mint);
    return due.length;
  }

  private async attempt(mint: MintRow): Promise<MintRow> {
    const where = [mint.campaign_id, mint.edition_number];
    try {
      const { txHash } = await this.chain.mint({
        contractAddress: mint.contract_address!,
        to: mint.wallet_address,
        tokenId: mint.edition_number,
        sentTxHash: mint.tx_hash,
        onSigned: async (hash) => {
          await this.orm.em.fork().execute('update mints set tx_hash = ? where campaign_id = ? and edition_number = ?', [hash, ...where]);
        },
      });
      const minted = await this.orm.em.fork().transactional(async (tx) => {
        const [row] = (await tx.execute(
          `update mints set status = 'MINTED', tx_hash = ?, minted_at = now(), last_error = null
           where campaign_id = ? and edition_number = ? and status = 'PENDING' returning *`,
          [txHash, ...where],
        )) as MintRow[];
        if (!row) return null;
        const [campaign] = (await tx.execute('select * from campaigns where id = ?', [mint.campaign_id])) as CampaignRow[];
        recordMinted(tx, campaign!, row);
        await tx.flush();
        return row;
      });
      if (minted) {
        this.onEventsCommitted();
        this.log.info({ campaignId: mint.campaign_id, edition: mint.edition_number, txHash }, 'campaign NFT minted');
        return minted;
      }
    } catch (error) {
      this.log.error({ err: error, campaignId: mint.campaign_id, edition: mint.edition_number }, 'campaign NFT mint failed; the edition stays reserved and is retried');
      await this.orm.em
        .fork()
        .execute(`update mints set last_error = ? where campaign_id = ? and edition_number = ? and status = 'PENDING'`, [failureMessage(error), ...where])
        .catch(() => undefined);
    }
    const [row] = (await this.orm.em.fork().execute('select * from mints where campaign_id = ? and edition_number = ?', where)) as MintRow[];
    return row!;
  }
}

/** Records campaigns.nft.minted.v1 for a MINTED edition, in the transaction that minted it. */
export function recordMinted(tx: EntityManager, campaign: CampaignRow, mint: MintRow): void {
  recordEvent(tx, SOURCE, CampaignNftMinted, {
    campaignId: campaign.id,
    campaignName: campaign.name,
    songId: campaign.song_id,
    userId: mint.user_id,
    walletAddress: mint.wallet_address,
    editionNumber: mint.edition_number,
    editionSize: campaign.edition_size!,
    tokenId: String(mint.edition_number),
    contractAddress: mint.contract_address,
    txHash: mint.tx_hash,
    mintedAt: new Date(mint.minted_at ?? Date.now()).toISOString(),
  });
}
