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
  recordEvent,
  requireAuth,
  toConnection,
  type Connection,
  type Edge,
  type EntityManager,
  type Logger,
  type MikroORM,
  type Principal,
  type ProjectionWaits,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/catalog/events';
import { DeploymentRevertedError, type CampaignChain, type SignedDeployment } from './chain/collections.ts';
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
  tokenMetadata,
  REFERRAL_CODE_LENGTH,
  type CampaignInput,
  type CampaignStatus,
  type Refusal,
} from './domain/campaign.ts';
import { CampaignNftMinted } from './events.ts';

export const SOURCE = 'campaigns';

export interface CampaignRow {
  id: string;
  song_id: string;
  artist_user_id: string;
  name: string;
  description: string | null;
  status: CampaignStatus;
  starts_at: Date;
  ends_at: Date;
  budget_cents: string;
  drop_name: string | null;
  drop_symbol: string | null;
  edition_size: number | null;
  min_listens: number | null;
  editions_claimed: number;
  contract_address: string | null;
  /** Set by an activation that deploys the drop's collection: DRAFT with it set = deployment pending. */
  deploy_requested_at: Date | null;
  deploy_tx_hash: string | null;
  deploy_nonce: string | null;
  deploy_address: string | null;
  deploy_raw_tx: string | null;
  deploy_error: string | null;
  created_at: Date;
}

export interface ParticipantRow {
  id: string;
  campaign_id: string;
  user_id: string;
  referral_code: string;
  referred_by: string | null;
  joined_at: Date;
}

export interface MintRow {
  campaign_id: string;
  edition_number: number;
  participant_id: string;
  user_id: string;
  wallet_address: string;
  status: 'PENDING' | 'MINTED';
  contract_address: string | null;
  tx_hash: string | null;
  minted_at: Date | null;
}

export interface EntityRef {
  id: string;
}

export type CampaignEdgeModel = Edge<CampaignRow>;
export type CampaignPage = Connection<CampaignRow>;

export type { CampaignAnalytics } from './domain/campaign.ts';

type ActiveCursor = [endsAt: string, id: string];
const isActiveCursor = (v: unknown): v is ActiveCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && isUuid(v[1]);

/** Another deployment was recorded for the campaign while this one was being signed. */
class DeploymentSuperseded extends Error {}

function refuse(refusal: Refusal): never {
  throw new AppError(ErrorCode[refusal.code], refusal.message, refusal.field ? { field: refusal.field } : {});
}

/** A participant's completed listens of the campaign's song since joining, within the campaign window. */
const PARTICIPANT_LISTENS = `select count(*)::int as n from listens l
  where l.user_id = ? and l.song_id = ? and l.completed_at >= ? and l.completed_at < ?`;

export interface CampaignsServiceDeps {
  orm: MikroORM;
  publicUrl: string;
  chain: CampaignChain | null;
  log: Logger;
  onEventsCommitted: () => void;
  /** A PENDING mint or a pending collection deployment is retried by the sweep once this long has passed since its last attempt. */
  chainLeaseMs: number;
  projections: ProjectionWaits;
}

/** campaigns' use cases. */
export class CampaignsService {
  private readonly orm: MikroORM;
  private readonly publicUrl: string;
  private readonly chain: CampaignChain | null;
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;
  private readonly chainLeaseMs: number;
  private readonly projections: ProjectionWaits;
  private readonly minting = new Map<string, Promise<MintRow>>();
  private readonly deploying = new Map<string, Promise<CampaignRow>>();

  constructor(deps: CampaignsServiceDeps) {
    this.orm = deps.orm;
    this.publicUrl = deps.publicUrl;
    this.chain = deps.chain;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
    this.chainLeaseMs = deps.chainLeaseMs;
    this.projections = deps.projections;
  }

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
      const onChain = c!.edition_size !== null && (this.chain !== null || c!.deploy_requested_at !== null);
      const [updated] = (await tx.execute(
        onChain
          ? `update campaigns set deploy_requested_at = coalesce(deploy_requested_at, now()), deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
             where id = ? returning *`
          : `update campaigns set status = 'ACTIVE', activated_at = now() where id = ? returning *`,
        [id],
      )) as CampaignRow[];
      return updated!;
    });
    if (row.status === 'ACTIVE') return row;
    if (!this.chain) {
      this.log.error({ campaignId: id }, 'campaign collection deployment pending, but no chain is configured to finish it');
      return row;
    }
    const deployed = await this.deployOnChain(id);
    if (deployed.status === 'DRAFT' && deployed.deploy_requested_at === null) {
      // The deployment reverted: the request was withdrawn and the campaign is a plain DRAFT again.
      throw new AppError(ErrorCode.INTERNAL_SERVER_ERROR, `The NFT collection could not be deployed (${deployed.deploy_error}); the campaign stays DRAFT`);
    }
    return deployed;
  }

  /** Whether the campaign waits for its collection's deployment to be confirmed before it is ACTIVE. */
  deploymentPending(row: CampaignRow): boolean {
    return row.status === 'DRAFT' && row.deploy_requested_at !== null;
  }

  /**
   * Drives the campaign's pending deployment to its end (once per process at a time). Answers the row
   * as it stands afterwards: ACTIVE, still DRAFT and pending when the chain failed or was slow (the
   * sweep goes on), or DRAFT without a request when the deployment reverted.
   */
  private deployOnChain(campaignId: string): Promise<CampaignRow> {
    const running = this.deploying.get(campaignId);
    if (running) return running;
    const attempt = this.attemptDeployment(campaignId).finally(() => this.deploying.delete(campaignId));
    this.deploying.set(campaignId, attempt);
    return attempt;
  }

  private async attemptDeployment(campaignId: string): Promise<CampaignRow> {
    const read = async () => ((await this.orm.em.fork().execute('select * from campaigns where id = ?', [campaignId])) as CampaignRow[])[0]!;
    // Another process may record or replace the signed deployment meanwhile: then follow theirs.
    for (let round = 0; round < 3; round++) {
      const c = await read();
      if (!this.deploymentPending(c)) return c;
      const sent: SignedDeployment | null = c.deploy_tx_hash
        ? { txHash: c.deploy_tx_hash, nonce: Number(c.deploy_nonce), contractAddress: c.deploy_address!, rawTx: c.deploy_raw_tx! }
        : null;
      try {
        const { txHash, contractAddress } = await this.chain!.deployCollection({
          name: c.drop_name!,
          symbol: c.drop_symbol!,
          editionSize: c.edition_size!,
          baseTokenUri: this.tokenUri(c.id, ''),
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
        const message = String((error as Error)?.message ?? error).slice(0, 500);
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

  async participation(em: EntityManager, campaignId: string, userId: string): Promise<ParticipantRow | null> {
    const [row] = (await em.execute('select * from participants where campaign_id = ? and user_id = ?', [campaignId, userId])) as ParticipantRow[];
    return row ?? null;
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
        this.recordMinted(tx, c!, mint!);
        await tx.flush();
      }
      return mint!;
    });
    if (reserved.status === 'MINTED') {
      this.onEventsCommitted();
      return reserved;
    }
    if (!this.chain) {
      this.log.error({ campaignId, edition: reserved.edition_number }, 'campaign NFT reserved, but no chain is configured to mint it');
      return reserved;
    }
    return this.mintOnChain(reserved);
  }

  /**
   * Mints a PENDING edition (once per process at a time). Answers the row as it stands afterwards:
   * MINTED, or still PENDING when the chain failed or was slow (the sweep retries it).
   */
  private mintOnChain(mint: MintRow): Promise<MintRow> {
    const key = `${mint.campaign_id}:${mint.edition_number}`;
    const running = this.minting.get(key);
    if (running) return running;
    const attempt = this.attemptMint(mint).finally(() => this.minting.delete(key));
    this.minting.set(key, attempt);
    return attempt;
  }

  private async attemptMint(mint: MintRow): Promise<MintRow> {
    const where = [mint.campaign_id, mint.edition_number];
    try {
      const { txHash } = await this.chain!.mint({
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
        this.recordMinted(tx, campaign!, row);
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
        .execute(`update mints set last_error = ? where campaign_id = ? and edition_number = ? and status = 'PENDING'`, [String((error as Error)?.message ?? error).slice(0, 500), ...where])
        .catch(() => undefined);
    }
    const [row] = (await this.orm.em.fork().execute('select * from mints where campaign_id = ? and edition_number = ?', where)) as MintRow[];
    return row!;
  }

  private recordMinted(tx: EntityManager, campaign: CampaignRow, mint: MintRow): void {
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

  /**
   * Persists ENDED for ACTIVE campaigns past endsAt, and finishes pending collection deployments and
   * retries PENDING mints whose last attempt is older than the lease (taking the lease atomically, so
   * replicas do not drive the same one at once).
   */
  async sweep(): Promise<{ ended: number; deployed: number; retried: number }> {
    const em = this.orm.em.fork();
    const ended = (await em.execute(`update campaigns set status = 'ENDED', ended_at = now() where status = 'ACTIVE' and ends_at <= now() returning id`)) as unknown[];
    let deployed = 0;
    let retried = 0;
    if (this.chain) {
      const deployments = (await em.execute(
        `update campaigns set deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
         where id in (
           select id from campaigns
           where status = 'DRAFT' and deploy_requested_at is not null and (deploy_last_attempt_at is null or deploy_last_attempt_at < now() - make_interval(secs => ?))
           order by deploy_requested_at limit 20 for update skip locked)
         returning id`,
        [this.chainLeaseMs / 1000],
      )) as { id: string }[];
      for (const { id } of deployments) {
        if ((await this.deployOnChain(id)).status === 'ACTIVE') deployed++;
      }
      const due = (await em.execute(
        `update mints set attempts = attempts + 1, last_attempt_at = now()
         where (campaign_id, edition_number) in (
           select campaign_id, edition_number from mints
           where status = 'PENDING' and (last_attempt_at is null or last_attempt_at < now() - make_interval(secs => ?))
           order by reserved_at limit 20 for update skip locked)
         returning *`,
        [this.chainLeaseMs / 1000],
      )) as MintRow[];
      for (const mint of due) {
        await this.mintOnChain(mint);
        retried++;
      }
    }
    return { ended: ended.length, deployed, retried };
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

  /** Analytics are the campaign's artist's (or an ADMIN's) to see. */
  assertMayReadAnalytics(principal: Principal | null, campaign: CampaignRow): void {
    if (!isSelfOrAdmin(principal, campaign.artist_user_id)) refuse({ code: 'FORBIDDEN', message: "Campaign analytics are for the campaign's artist only" });
  }

  /** `PUBLIC_URL/nft/<campaignId>/<tokenId>`: the gateway forwards /nft/ to this subgraph. */
  tokenUri(campaignId: string, tokenId: string): string {
    return new URL(`/nft/${campaignId}/${tokenId}`, this.publicUrl).toString();
  }

  /** ERC-721 metadata of a minted edition, or null (unknown campaign, or an edition not minted). */
  async tokenMetadata(campaignId: string, tokenId: string) {
    if (!isUuid(campaignId) || !/^[1-9]\d{0,8}$/.test(tokenId)) return null;
    const [row] = (await this.orm.em.fork().execute(
      `select c.name, c.drop_name, c.edition_size, s.title, m.edition_number
       from mints m join campaigns c on c.id = m.campaign_id join songs s on s.song_id = c.song_id
       where m.campaign_id = ? and m.edition_number = ? and m.status = 'MINTED'`,
      [campaignId, Number(tokenId)],
    )) as { name: string; drop_name: string; edition_size: number; title: string; edition_number: number }[];
    if (!row) return null;
    return tokenMetadata({ dropName: row.drop_name, campaignName: row.name, songTitle: row.title, editionNumber: row.edition_number, editionSize: row.edition_size });
  }
}
