import type { Logger, Persistence, Tx } from '@vibestream/platform';
import type { CampaignChain } from '../chain/collections.ts';
import { CampaignNftMinted } from '../events.ts';
import type { CampaignRow, MintRow } from '../model.ts';
import * as store from '../store.ts';
import { failureMessage, InFlight } from './attempts.ts';

export interface NftMintingDeps {
  db: Persistence;
  chain: CampaignChain;
  log: Logger;
  /** A PENDING mint is retried by the sweep once this long has passed since its last attempt. */
  leaseMs: number;
}

/**
 * Mints the editions that claims reserved (PENDING) on the drop's collection. A mint that fails keeps
 * its edition reserved for its claimant and the sweep retries it: never a different edition, never a
 * second token (the token id is the edition number, which the contract mints once).
 */
export class NftMinting {
  private readonly db: Persistence;
  private readonly chain: CampaignChain;
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly inFlight = new InFlight<MintRow>();

  constructor(deps: NftMintingDeps) {
    this.db = deps.db;
    this.chain = deps.chain;
    this.log = deps.log;
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
    const due = await this.db.useCase((tx) => store.leaseDueMints(tx, this.leaseMs / 1000));
    for (const mint of due) await this.mint(mint);
    return due.length;
  }

  private async attempt(mint: MintRow): Promise<MintRow> {
    const { campaign_id: campaignId, edition_number: edition } = mint;
    try {
      if (mint.contract_address === null) throw new Error(`mint ${campaignId}:${edition} has no collection to mint on`);
      const { txHash } = await this.chain.mint({
        contractAddress: mint.contract_address,
        to: mint.wallet_address,
        tokenId: edition,
        sentTxHash: mint.tx_hash,
        onSigned: (hash) => this.db.useCase((tx) => store.recordMintTx(tx, campaignId, edition, hash)),
      });
      // The use case wakes the relay once the event committed.
      const minted = await this.db.useCase(async (tx) => {
        const row = await store.markMinted(tx, campaignId, edition, txHash);
        if (!row) return null;
        const campaign = await store.campaign(tx, campaignId);
        if (!campaign) throw new Error(`campaign ${campaignId} of a mint is gone`);
        recordMinted(tx, campaign, row);
        return row;
      });
      if (minted) {
        this.log.info({ campaignId, edition, txHash }, 'campaign NFT minted');
        return minted;
      }
    } catch (error) {
      this.log.error({ err: error, campaignId, edition }, 'campaign NFT mint failed; the edition stays reserved and is retried');
      await this.db.useCase((tx) => store.mintFailed(tx, campaignId, edition, failureMessage(error))).catch(() => undefined);
    }
    const row = await store.mint(this.db.reader(), campaignId, edition);
    if (!row) throw new Error(`mint ${campaignId}:${edition} is gone`);
    return row;
  }
}

/** Records campaigns.nft.minted.v1 for a MINTED edition, in the transaction that minted it. */
export function recordMinted(tx: Tx, campaign: CampaignRow, mint: MintRow): void {
  if (campaign.edition_size === null) throw new Error(`campaign ${campaign.id} has no NFT drop`);
  tx.outbox.record(CampaignNftMinted, {
    campaignId: campaign.id,
    campaignName: campaign.name,
    songId: campaign.song_id,
    userId: mint.user_id,
    walletAddress: mint.wallet_address,
    editionNumber: mint.edition_number,
    editionSize: campaign.edition_size,
    tokenId: String(mint.edition_number),
    contractAddress: mint.contract_address,
    txHash: mint.tx_hash,
    mintedAt: new Date(mint.minted_at ?? Date.now()).toISOString(),
  });
}
