import { randomBytes, randomUUID } from 'node:crypto';
import { getAddress, isAddress, ZeroAddress } from 'ethers';
import {
  AppError,
  ErrorCode,
  badInput,
  decodeCursor,
  isSelfOrAdmin,
  isUniqueViolation,
  isUuid,
  notFound,
  pageSize,
  requireAuth,
  toConnection,
  type Logger,
  type Persistence,
  type Principal,
  type ProjectionWaits,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { CampaignParticipantJoined } from '../events.ts';
import {
  activationRefusal,
  campaignInputProblems,
  claimRefusal,
  effectiveStatus,
  joinRefusal,
  nextEdition,
  normaliseReferralCode,
  referralCodeFrom,
  referralRefusal,
  REFERRAL_CODE_LENGTH,
  type CampaignInput,
  type CampaignStatus,
  type Refusal,
} from '../domain/campaign.ts';
import type { CampaignPage, CampaignRow, MintRow, ParticipantRow } from '../model.ts';
import type { CollectionDeployments } from '../nft/deployment.ts';
import { recordMinted, type NftMinting } from '../nft/minting.ts';
import * as store from '../store.ts';

type ActiveCursor = [endsAt: string, id: string];
const isActiveCursor = (v: unknown): v is ActiveCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && isUuid(v[1]);

function refuse(refusal: Refusal): never {
  throw new AppError(ErrorCode[refusal.code], refusal.message, refusal.field ? { field: refusal.field } : {});
}

export interface CampaignsServiceDeps {
  db: Persistence;
  log: Logger;
  projections: ProjectionWaits;
  /** The chain saga, when a chain is configured (ETH_RPC_URL and NFT_DEPLOYER_PRIVATE_KEY). */
  deployments: CollectionDeployments | null;
  minting: NftMinting | null;
}

/**
 * campaigns' use cases: an artist creates and activates a campaign for their song; fans join it
 * (with a referral code or not) and claim an edition of its NFT drop; campaigns past endsAt end.
 * Activation and claims decide under the campaign's row lock, then hand the chain work to the
 * deployment and minting saga (src/nft/), with no transaction open while the chain is asked.
 */
export class CampaignsService {
  private readonly db: Persistence;
  private readonly log: Logger;
  private readonly projections: ProjectionWaits;
  private readonly deployments: CollectionDeployments | null;
  private readonly minting: NftMinting | null;

  constructor(deps: CampaignsServiceDeps) {
    this.db = deps.db;
    this.log = deps.log;
    this.projections = deps.projections;
    this.deployments = deps.deployments;
    this.minting = deps.minting;
  }

  // ---- Reads ----

  /** The campaign if the caller may see it: drafts only for their artist or an ADMIN. */
  async campaign(principal: Principal | null, id: string): Promise<CampaignRow | null> {
    if (!isUuid(id)) return null;
    const row = await store.campaign(this.db.reader(), id);
    return row && this.visible(principal, row) ? row : null;
  }

  visible(principal: Principal | null, row: CampaignRow): boolean {
    return row.status !== 'DRAFT' || isSelfOrAdmin(principal, row.artist_user_id);
  }

  status(row: CampaignRow, now = new Date()): CampaignStatus {
    return effectiveStatus(row.status, new Date(row.ends_at), now);
  }

  async activeCampaigns(first: number | null | undefined, after: string | null | undefined): Promise<CampaignPage> {
    const size = pageSize(first);
    const cursor = decodeCursor(after, isActiveCursor);
    const reader = this.db.reader();
    const rows = await store.activeCampaigns(reader, cursor ?? null, size + 1);
    const count = await store.activeCampaignCount(reader);
    return toConnection(rows, size, count, (row) => [new Date(row.ends_at).toISOString(), row.id]);
  }

  /** Analytics are the campaign's artist's (or an ADMIN's) to see. */
  assertMayReadAnalytics(principal: Principal | null, campaign: CampaignRow): void {
    if (!isSelfOrAdmin(principal, campaign.artist_user_id)) refuse({ code: 'FORBIDDEN', message: "Campaign analytics are for the campaign's artist only" });
  }

  // ---- An artist's campaign: create, activate; the sweep ends it ----

  async createCampaign(principal: Principal | null, input: CampaignInput & { songId: string }): Promise<CampaignRow> {
    const p = requireAuth(principal);
    const [problem] = campaignInputProblems(input, new Date());
    if (problem) throw badInput(problem.message, problem.field);
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const song = isUuid(input.songId)
      ? await this.projections.find(SongPublished, input.songId, () => store.songArtist(this.db.reader(), input.songId))
      : undefined;
    if (!song) throw notFound('Song');
    if (song.artist_user_id !== p.userId) refuse({ code: 'FORBIDDEN', message: "Only the song's artist may create its campaigns" });
    const drop = input.nftDrop ?? null;
    return this.db.useCase((tx) =>
      store.insertCampaign(tx, {
        id: randomUUID(),
        songId: input.songId,
        artistUserId: p.userId,
        name: input.name.trim(),
        description: input.description ?? null,
        startsAt: input.startsAt,
        endsAt: input.endsAt,
        budgetCents: input.budgetCents,
        dropName: drop?.name.trim() ?? null,
        dropSymbol: drop?.symbol ?? null,
        editionSize: drop?.editionSize ?? null,
        minListens: drop?.minListens ?? null,
      }),
    );
  }

  /**
   * DRAFT -> ACTIVE. Without a chain or a drop, at once under the campaign's row lock. With both, the
   * row lock only guards recording the deployment request (short transaction); the collection is then
   * deployed with no transaction open, and the campaign turns ACTIVE when the receipt arrives. While
   * the deployment is pending the campaign stays DRAFT (`deploying`); an activation of such a campaign
   * (a retry, or a concurrent call) and the sweep finish that same deployment rather than send another.
   * A receipt that does not arrive within NFT_RECEIPT_TIMEOUT_MS answers the campaign still DRAFT.
   */
  async activateCampaign(principal: Principal | null, id: string): Promise<CampaignRow> {
    const p = requireAuth(principal);
    const visible = await this.campaign(p, id);
    if (!visible) throw notFound('Campaign');
    const row = await this.db.useCase(async (tx) => {
      const c = await store.lockCampaign(tx, id);
      if (!c) throw notFound('Campaign');
      const refusal = activationRefusal({ status: this.status(c), endsAt: new Date(c.ends_at), isArtist: c.artist_user_id === p.userId }, new Date());
      if (refusal) refuse(refusal);
      const deploysCollection = c.edition_size !== null && (this.deployments !== null || c.deploy_requested_at !== null);
      const updated = deploysCollection ? await store.requestDeployment(tx, id) : await store.activate(tx, id);
      if (!updated) throw notFound('Campaign');
      return updated;
    });
    if (row.status === 'ACTIVE') return row;
    if (!this.deployments) {
      this.log.error({ campaignId: id }, 'campaign collection deployment pending, but no chain is configured to finish it');
      return row;
    }
    const deployed = await this.deployments.finish(id);
    if (deployed.status === 'DRAFT' && deployed.deploy_requested_at === null) {
      // The deployment reverted: the request was withdrawn and the campaign is a plain DRAFT again.
      throw new AppError(ErrorCode.INTERNAL_SERVER_ERROR, `The NFT collection could not be deployed (${deployed.deploy_error}); the campaign stays DRAFT`);
    }
    return deployed;
  }

  /** Persists ENDED for ACTIVE campaigns past endsAt (the sweep); answers how many ended. */
  endOverdue(): Promise<number> {
    return this.db.useCase((tx) => store.endOverdue(tx));
  }

  // ---- A fan's participation: join, claim an edition ----

  async joinCampaign(principal: Principal | null, id: string, referralCode: string | null | undefined): Promise<ParticipantRow> {
    const p = requireAuth(principal);
    const campaign = await this.campaign(p, id);
    if (!campaign) throw notFound('Campaign');
    const refusal = joinRefusal(
      { status: this.status(campaign), startsAt: new Date(campaign.starts_at), isArtist: campaign.artist_user_id === p.userId },
      new Date(),
    );
    if (refusal) refuse(refusal);

    let referrerId: string | null = null;
    if (referralCode !== null && referralCode !== undefined) {
      const code = normaliseReferralCode(referralCode);
      const referrer = code.length === REFERRAL_CODE_LENGTH ? await store.participantByReferralCode(this.db.reader(), code) : undefined;
      const bad = referralRefusal(referrer ? { userId: referrer.user_id, campaignId: referrer.campaign_id } : null, { userId: p.userId, campaignId: id });
      if (bad) refuse(bad);
      if (!referrer) throw new Error('referralRefusal let an unknown referral code through');
      referrerId = referrer.id;
    }

    const existing = await store.participation(this.db.reader(), id, p.userId);
    if (existing) return existing;
    for (let attempt = 1; ; attempt++) {
      try {
        const participant = {
          id: randomUUID(),
          campaignId: id,
          userId: p.userId,
          referralCode: referralCodeFrom(randomBytes(REFERRAL_CODE_LENGTH)),
          referredBy: referrerId,
        };
        const inserted = await this.db.useCase(async (tx) => {
          const created = await store.insertParticipant(tx, participant);
          // Only the join that created the participation records it: once per participant.
          if (created)
            tx.outbox.record(CampaignParticipantJoined, {
              campaignId: id,
              songId: campaign.song_id,
              userId: p.userId,
              joinedAt: new Date(created.joined_at).toISOString(),
            });
          return created;
        });
        // A concurrent join of the same user won: theirs is the first participation.
        const joined = inserted ?? (await store.participation(this.db.reader(), id, p.userId));
        if (!joined) throw new Error('a concurrent participation is gone');
        return joined;
      } catch (error) {
        if (!isUniqueViolation(error, 'participants_referral_code_key') || attempt >= 5) throw error;
      }
    }
  }

  /**
   * The database decides who gets which edition, under the campaign's row lock, before the chain is
   * asked: a claim that passes every rule takes edition editions_claimed + 1 (a CHECK keeps it within
   * the drop, a primary key keeps editions distinct, a unique key keeps one per participant). With a
   * chain, the edition is PENDING until its mint is confirmed; a mint that fails keeps the edition
   * reserved for this participant and the sweep retries it (never a different edition, never a second
   * token: the token id is the edition number, which the contract mints once).
   */
  async claimNft(principal: Principal | null, campaignId: string, walletAddress: string): Promise<MintRow> {
    const p = requireAuth(principal);
    if (!isAddress(walletAddress) || getAddress(walletAddress) === ZeroAddress)
      throw badInput('walletAddress must be an Ethereum address (0x and 40 hex digits)', 'walletAddress');
    const wallet = getAddress(walletAddress);
    const visible = await this.campaign(p, campaignId);
    if (!visible) throw notFound('Campaign');

    // The use case wakes the relay once an edition minted at once (no collection on chain) committed.
    const reserved = await this.db.useCase(async (tx) => {
      const c = await store.lockCampaign(tx, campaignId);
      if (!c) throw notFound('Campaign');
      const participant = await store.participation(tx, campaignId, p.userId);
      let listens = 0;
      let claimed = false;
      if (participant) {
        claimed = await store.participantClaimed(tx, participant.id);
        listens = await store.participantListens(tx, { userId: p.userId, songId: c.song_id, since: participant.joined_at, until: c.ends_at });
      }
      const refusal = claimRefusal({
        status: this.status(c),
        drop: c.edition_size === null ? null : { editionSize: c.edition_size, minListens: c.min_listens ?? 0 },
        participant: participant ? { listens, claimed } : null,
        editionsClaimed: c.editions_claimed,
      });
      if (refusal) refuse(refusal);
      if (!participant || c.edition_size === null) throw new Error('claimRefusal let a claim without a participant or a drop through');
      const edition = nextEdition(c.editions_claimed, c.edition_size);
      await store.claimEdition(tx, campaignId);
      // With a collection on chain the edition is PENDING until its mint is confirmed (even while this
      // process has no chain configured: the sweep mints it once one is).
      const mint = await store.insertMint(tx, {
        campaignId,
        edition,
        participantId: participant.id,
        userId: p.userId,
        wallet,
        contractAddress: c.contract_address,
      });
      if (mint.status === 'MINTED') recordMinted(tx, c, mint);
      return mint;
    });
    if (reserved.status === 'MINTED') return reserved;
    if (!this.minting) {
      this.log.error({ campaignId, edition: reserved.edition_number }, 'campaign NFT reserved, but no chain is configured to mint it');
      return reserved;
    }
    return this.minting.mint(reserved);
  }
}
