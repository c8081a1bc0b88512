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
  type EntityManager,
  type Logger,
  type Principal,
  type ProjectionWaits,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
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

type ActiveCursor = [endsAt: string, id: string];
const isActiveCursor = (v: unknown): v is ActiveCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && isUuid(v[1]);

function refuse(refusal: Refusal): never {
  throw new AppError(ErrorCode[refusal.code], refusal.message, refusal.field ? { field: refusal.field } : {});
}

/** A participant's completed listens of the campaign's song since joining, within the campaign window. */
const PARTICIPANT_LISTENS = `select count(*)::int as n from listens l
  where l.user_id = ? and l.song_id = ? and l.completed_at >= ? and l.completed_at < ?`;

export interface CampaignsServiceDeps {
  log: Logger;
  onEventsCommitted: () => void;
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
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;
  private readonly projections: ProjectionWaits;
  private readonly deployments: CollectionDeployments | null;
  private readonly minting: NftMinting | null;

  constructor(deps: CampaignsServiceDeps) {
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
    this.projections = deps.projections;
    this.deployments = deps.deployments;
    this.minting = deps.minting;
  }

  // ---- Reads ----

  /** The campaign if the caller may see it: drafts only for their artist or an ADMIN. */
  async campaign(em: EntityManager, principal: Principal | null, id: string): Promise<CampaignRow | null> {
    if (!isUuid(id)) return null;
    const [row] = (await em.execute('select * from campaigns where id = ?', [id])) as CampaignRow[];
    return row && this.visible(principal, row) ? row : null;
  }

  visible(principal: Principal | null, row: CampaignRow): boolean {
    return row.status !== 'DRAFT' || isSelfOrAdmin(principal, row.artist_user_id);
  }

  status(row: CampaignRow, now = new Date()): CampaignStatus {
    return effectiveStatus(row.status, new Date(row.ends_at), now);
  }

  async activeCampaigns(em: EntityManager, first: number | null | undefined, after: string | null | undefined): Promise<CampaignPage> {
    const size = pageSize(first);
    const cursor = decodeCursor(after, isActiveCursor);
    const params: unknown[] = [];
    let keyset = '';
    if (cursor) {
      keyset = 'and (ends_at > ? or (ends_at = ? and id > ?))';
      params.push(cursor[0], cursor[0], cursor[1]);
    }
    const rows = (await em.execute(
      `select * from campaigns where status = 'ACTIVE' and ends_at > now() ${keyset} order by ends_at, id limit ?`,
      [...params, size + 1],
    )) as CampaignRow[];
    const [count] = (await em.execute(`select count(*)::int as n from campaigns where status = 'ACTIVE' and ends_at > now()`)) as { n: number }[];
    return toConnection(rows, size, count!.n, (row) => [new Date(row.ends_at).toISOString(), row.id]);
  }

  async participation(em: EntityManager, campaignId: string, userId: string): Promise<ParticipantRow | null> {
    const [row] = (await em.execute('select * from participants where campaign_id = ? and user_id = ?', [campaignId, userId])) as ParticipantRow[];
    return row ?? null;
  }

  /** Analytics are the campaign's artist's (or an ADMIN's) to see. */
  assertMayReadAnalytics(principal: Principal | null, campaign: CampaignRow): void {
    if (!isSelfOrAdmin(principal, campaign.artist_user_id)) refuse({ code: 'FORBIDDEN', message: "Campaign analytics are for the campaign's artist only" });
  }

  // ---- An artist's campaign: create, activate; the sweep ends it ----

  async createCampaign(em: EntityManager, principal: Principal | null, input: CampaignInput & { songId: string }): Promise<CampaignRow> {
    const p = requireAuth(principal);
    const [problem] = campaignInputProblems(input, new Date());
    if (problem) throw badInput(problem.message, problem.field);
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const song = isUuid(input.songId)
      ? await this.projections.find(SongPublished, input.songId, async () => ((await em.execute('select * from songs where song_id = ?', [input.songId])) as { artist_user_id: string }[])[0])
      : undefined;
    if (!song) throw notFound('Song');
    if (song.artist_user_id !== p.userId) refuse({ code: 'FORBIDDEN', message: "Only the song's artist may create its campaigns" });
    const drop = input.nftDrop ?? null;
    const [row] = (await em.execute(
      `insert into campaigns (id, song_id, artist_user_id, name, description, starts_at, ends_at, budget_cents, drop_name, drop_symbol, edition_size, min_listens)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *`,
      [
        randomUUID(),
        input.songId,
        p.userId,
        input.name.trim(),
        input.description ?? null,
        input.startsAt,
        input.endsAt,
        input.budgetCents,
        drop?.name.trim() ?? null,
        drop?.symbol ?? null,
        drop?.editionSize ?? null,
        drop?.minListens ?? null,
      ],
    )) as CampaignRow[];
    return row!;
  }

  /**
   * DRAFT -> ACTIVE. Without a chain or a drop, at once under the campaign's row lock. With both, the
   * row lock only guards recording the deployment request (short transaction); the collection is then
   * deployed with no transaction open, and the campaign turns ACTIVE when the receipt arrives. While
   * the deployment is pending the campaign stays DRAFT (`deploying`); an activation of such a campaign
   * (a retry, or a concurrent call) and the sweep finish that same deployment rather than send another.
   * A receipt that does not arrive within NFT_RECEIPT_TIMEOUT_MS answers the campaign still DRAFT.
   */
  async activateCampaign(em: EntityManager, principal: Principal | null, id: string): Promise<CampaignRow> {
    const p = requireAuth(principal);
    const visible = await this.campaign(em, p, id);
    if (!visible) throw notFound('Campaign');
    const row = await em.fork().transactional(async (tx) => {
      const [c] = (await tx.execute('select * from campaigns where id = ? for update', [id])) as CampaignRow[];
      const refusal = activationRefusal({ status: this.status(c!), endsAt: new Date(c!.ends_at), isArtist: c!.artist_user_id === p.userId }, new Date());
      if (refusal) refuse(refusal);
      const deploysCollection = c!.edition_size !== null && (this.deployments !== null || c!.deploy_requested_at !== null);
      const [updated] = (await tx.execute(
        deploysCollection
          ? `update campaigns set deploy_requested_at = coalesce(deploy_requested_at, now()), deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
             where id = ? returning *`
          : `update campaigns set status = 'ACTIVE', activated_at = now() where id = ? returning *`,
        [id],
      )) as CampaignRow[];
      return updated!;
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
  async endOverdue(em: EntityManager): Promise<number> {
    const ended = (await em.execute(`update campaigns set status = 'ENDED', ended_at = now() where status = 'ACTIVE' and ends_at <= now() returning id`)) as unknown[];
    return ended.length;
  }

  // ---- A fan's participation: join, claim an edition ----

  async joinCampaign(em: EntityManager, principal: Principal | null, id: string, referralCode: string | null | undefined): Promise<ParticipantRow> {
    const p = requireAuth(principal);
    const campaign = await this.campaign(em, p, id);
    if (!campaign) throw notFound('Campaign');
    const refusal = joinRefusal({ status: this.status(campaign), startsAt: new Date(campaign.starts_at), isArtist: campaign.artist_user_id === p.userId }, new Date());
    if (refusal) refuse(refusal);

    let referrerId: string | null = null;
    if (referralCode !== null && referralCode !== undefined) {
      const code = normaliseReferralCode(referralCode);
      const [referrer] = code.length === REFERRAL_CODE_LENGTH
        ? ((await em.execute('select id, user_id, campaign_id from participants where referral_code = ?', [code])) as { id: string; user_id: string; campaign_id: string }[])
        : [];
      const bad = referralRefusal(referrer ? { userId: referrer.user_id, campaignId: referrer.campaign_id } : null, { userId: p.userId, campaignId: id });
      if (bad) refuse(bad);
      referrerId = referrer!.id;
    }

    const existing = await this.participation(em, id, p.userId);
    if (existing) return existing;
    for (let attempt = 1; ; attempt++) {
      try {
        const [inserted] = (await em.execute(
          `insert into participants (id, campaign_id, user_id, referral_code, referred_by) values (?, ?, ?, ?, ?)
           on conflict (campaign_id, user_id) do nothing returning *`,
          [randomUUID(), id, p.userId, referralCodeFrom(randomBytes(REFERRAL_CODE_LENGTH)), referrerId],
        )) as ParticipantRow[];
        // A concurrent join of the same user won: theirs is the first participation.
        return inserted ?? (await this.participation(em, id, p.userId))!;
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
  async claimNft(em: EntityManager, principal: Principal | null, campaignId: string, walletAddress: string): Promise<MintRow> {
    const p = requireAuth(principal);
    if (!isAddress(walletAddress) || getAddress(walletAddress) === ZeroAddress) throw badInput('walletAddress must be an Ethereum address (0x and 40 hex digits)', 'walletAddress');
    const wallet = getAddress(walletAddress);
    const visible = await this.campaign(em, p, campaignId);
    if (!visible) throw notFound('Campaign');

    const reserved = await em.fork().transactional(async (tx) => {
      const [c] = (await tx.execute('select * from campaigns where id = ? for update', [campaignId])) as CampaignRow[];
      const participant = await this.participation(tx, campaignId, p.userId);
      let listens = 0;
      let claimed = false;
      if (participant) {
        claimed = ((await tx.execute('select 1 from mints where participant_id = ?', [participant.id])) as unknown[]).length > 0;
        [{ n: listens }] = (await tx.execute(PARTICIPANT_LISTENS, [p.userId, c!.song_id, participant.joined_at, c!.ends_at])) as [{ n: number }];
      }
      const refusal = claimRefusal({
        status: this.status(c!),
        drop: c!.edition_size === null ? null : { editionSize: c!.edition_size, minListens: c!.min_listens! },
        participant: participant ? { listens, claimed } : null,
        editionsClaimed: c!.editions_claimed,
      });
      if (refusal) refuse(refusal);
      const edition = nextEdition(c!.editions_claimed, c!.edition_size!);
      await tx.execute('update campaigns set editions_claimed = editions_claimed + 1 where id = ?', [campaignId]);
      // With a collection on chain the edition is PENDING until its mint is confirmed (even while this
      // process has no chain configured: the sweep mints it once one is).
      const onChain = c!.contract_address !== null;
      const [mint] = (await tx.execute(
        `insert into mints (campaign_id, edition_number, participant_id, user_id, wallet_address, status, contract_address, attempts, last_attempt_at, minted_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ${onChain ? 'now()' : 'null'}, ${onChain ? 'null' : 'now()'}) returning *`,
        [campaignId, edition, participant!.id, p.userId, wallet, onChain ? 'PENDING' : 'MINTED', c!.contract_address, onChain ? 1 : 0],
      )) as MintRow[];
      if (!onChain) {
        recordMinted(tx, c!, mint!);
        await tx.flush();
      }
      return mint!;
    });
    if (reserved.status === 'MINTED') {
      this.onEventsCommitted();
      return reserved;
    }
    if (!this.minting) {
      this.log.error({ campaignId, edition: reserved.edition_number }, 'campaign NFT reserved, but no chain is configured to mint it');
      return reserved;
    }
    return this.minting.mint(reserved);
  }
}
