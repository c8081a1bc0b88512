import { exec, row, rows, sql, z, type Session, type Sql, type Tx } from '@vibestream/platform';
import { campaignStatuses } from './domain/campaign.ts';

/**
 * campaigns' SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

/** Timestamps arrive as PostgreSQL prints them; the resolvers, cursors and rules read them as such. */
const timestamp = z.string();
/** bigint columns arrive as text. */
const bigintText = z.string();

/** A row of `campaigns`, as the graph resolves it (codegen maps its types to this). */
export const CampaignRow = z.object({
  id: z.string(),
  song_id: z.string(),
  artist_user_id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  status: z.enum(campaignStatuses),
  starts_at: timestamp,
  ends_at: timestamp,
  budget_cents: bigintText,
  drop_name: z.string().nullable(),
  drop_symbol: z.string().nullable(),
  edition_size: z.number().nullable(),
  min_listens: z.number().nullable(),
  editions_claimed: z.number(),
  contract_address: z.string().nullable(),
  /** Set by an activation that deploys the drop's collection: DRAFT with it set = deployment pending. */
  deploy_requested_at: timestamp.nullable(),
  deploy_tx_hash: z.string().nullable(),
  deploy_nonce: bigintText.nullable(),
  deploy_address: z.string().nullable(),
  deploy_raw_tx: z.string().nullable(),
  deploy_error: z.string().nullable(),
  created_at: timestamp,
});
export type CampaignRow = z.output<typeof CampaignRow>;

export const ParticipantRow = z.object({
  id: z.string(),
  campaign_id: z.string(),
  user_id: z.string(),
  referral_code: z.string(),
  referred_by: z.string().nullable(),
  joined_at: timestamp,
});
export type ParticipantRow = z.output<typeof ParticipantRow>;

export const MintRow = z.object({
  campaign_id: z.string(),
  edition_number: z.number(),
  participant_id: z.string(),
  user_id: z.string(),
  wallet_address: z.string(),
  status: z.enum(['PENDING', 'MINTED']),
  contract_address: z.string().nullable(),
  tx_hash: z.string().nullable(),
  minted_at: timestamp.nullable(),
});
export type MintRow = z.output<typeof MintRow>;

const Id = z.object({ id: z.string() });
const Count = z.object({ n: z.number() });
const CountById = z.object({ id: z.string(), n: z.number() });
const list = (values: readonly string[]) => sql.join(values);

// ---- Songs and listens (catalog.song.published.v1, listen.completed.v1) ----

export async function upsertSong(tx: Tx, song: { songId: string; artistUserId: string; title: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into songs (song_id, artist_user_id, title) values (${song.songId}, ${song.artistUserId}, ${song.title})
        on conflict (song_id) do update set title = excluded.title, artist_user_id = excluded.artist_user_id`,
  );
}

export function songArtist(db: Session, songId: string): Promise<{ artist_user_id: string } | undefined> {
  return row(db, z.object({ artist_user_id: z.string() }), sql`select artist_user_id from songs where song_id = ${songId}`);
}

/** Kept only for songs that have a campaign. */
export async function insertListen(tx: Tx, listen: { sessionId: string; userId: string; songId: string; completedAt: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into listens (session_id, user_id, song_id, completed_at)
        select ${listen.sessionId}, ${listen.userId}, ${listen.songId}, ${listen.completedAt} where exists (select 1 from campaigns where song_id = ${listen.songId})
        on conflict (session_id) do nothing`,
  );
}

/** A participant's completed listens of the campaign's song since joining, within the campaign window. */
export async function participantListens(tx: Tx, p: { userId: string; songId: string; since: string; until: string }): Promise<number> {
  const found = await row(
    tx,
    Count,
    sql`select count(*)::int as n from listens l
        where l.user_id = ${p.userId} and l.song_id = ${p.songId} and l.completed_at >= ${p.since} and l.completed_at < ${p.until}`,
  );
  return found?.n ?? 0;
}

// ---- Campaigns ----

export function campaign(db: Session, id: string): Promise<CampaignRow | undefined> {
  return row(db, CampaignRow, sql`select * from campaigns where id = ${id}`);
}

/** The campaign under its row lock, for the rest of the transaction. */
export function lockCampaign(tx: Tx, id: string): Promise<CampaignRow | undefined> {
  return row(tx, CampaignRow, sql`select * from campaigns where id = ${id} for update`);
}

export function activeCampaigns(db: Session, after: readonly [endsAt: string, id: string] | null, limit: number): Promise<CampaignRow[]> {
  const keyset = after ? sql`and (ends_at > ${after[0]} or (ends_at = ${after[0]} and id > ${after[1]}))` : sql``;
  return rows(db, CampaignRow, sql`select * from campaigns where status = 'ACTIVE' and ends_at > now() ${keyset} order by ends_at, id limit ${limit}`);
}

export async function activeCampaignCount(db: Session): Promise<number> {
  const found = await row(db, Count, sql`select count(*)::int as n from campaigns where status = 'ACTIVE' and ends_at > now()`);
  return found?.n ?? 0;
}

export async function insertCampaign(
  tx: Tx,
  c: {
    id: string;
    songId: string;
    artistUserId: string;
    name: string;
    description: string | null;
    startsAt: Date;
    endsAt: Date;
    budgetCents: number;
    dropName: string | null;
    dropSymbol: string | null;
    editionSize: number | null;
    minListens: number | null;
  },
): Promise<CampaignRow> {
  const inserted = await row(
    tx,
    CampaignRow,
    sql`insert into campaigns (id, song_id, artist_user_id, name, description, starts_at, ends_at, budget_cents, drop_name, drop_symbol, edition_size, min_listens)
        values (${c.id}, ${c.songId}, ${c.artistUserId}, ${c.name}, ${c.description}, ${c.startsAt}, ${c.endsAt}, ${c.budgetCents},
                ${c.dropName}, ${c.dropSymbol}, ${c.editionSize}, ${c.minListens}) returning *`,
  );
  if (!inserted) throw new Error('insert into campaigns returned no row');
  return inserted;
}

/** DRAFT -> ACTIVE at once (no collection to deploy). */
export function activate(tx: Tx, id: string): Promise<CampaignRow | undefined> {
  return row(tx, CampaignRow, sql`update campaigns set status = 'ACTIVE', activated_at = now() where id = ${id} returning *`);
}

/** Records (or keeps) the request to deploy the drop's collection, and takes the attempt's lease. */
export function requestDeployment(tx: Tx, id: string): Promise<CampaignRow | undefined> {
  return row(
    tx,
    CampaignRow,
    sql`update campaigns set deploy_requested_at = coalesce(deploy_requested_at, now()), deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
        where id = ${id} returning *`,
  );
}

/** Persists ENDED for ACTIVE campaigns past endsAt; answers how many ended. */
export function endOverdue(tx: Tx): Promise<number> {
  return exec(tx, sql`update campaigns set status = 'ENDED', ended_at = now() where status = 'ACTIVE' and ends_at <= now()`);
}

export async function claimEdition(tx: Tx, campaignId: string): Promise<void> {
  await exec(tx, sql`update campaigns set editions_claimed = editions_claimed + 1 where id = ${campaignId}`);
}

// ---- Collection deployments ----

/** Takes the lease of the pending deployments whose last attempt is older than `leaseSeconds`; answers their ids. */
export async function leaseDueDeployments(tx: Tx, leaseSeconds: number): Promise<string[]> {
  const due = await rows(
    tx,
    Id,
    sql`update campaigns set deploy_attempts = deploy_attempts + 1, deploy_last_attempt_at = now()
        where id in (
          select id from campaigns
          where status = 'DRAFT' and deploy_requested_at is not null
            and (deploy_last_attempt_at is null or deploy_last_attempt_at < now() - make_interval(secs => ${leaseSeconds}))
          order by deploy_requested_at limit 20 for update skip locked)
        returning id`,
  );
  return due.map((d) => d.id);
}

/** Records a signed deployment, only if no other was recorded since `previousTxHash`; answers whether it did. */
export async function recordSignedDeployment(
  tx: Tx,
  campaignId: string,
  d: { txHash: string; nonce: number; contractAddress: string; rawTx: string },
  previousTxHash: string | null,
): Promise<boolean> {
  const recorded = await rows(
    tx,
    Id,
    sql`update campaigns set deploy_tx_hash = ${d.txHash}, deploy_nonce = ${d.nonce}, deploy_address = ${d.contractAddress}, deploy_raw_tx = ${d.rawTx}
        where id = ${campaignId} and status = 'DRAFT' and deploy_requested_at is not null and deploy_tx_hash is not distinct from ${previousTxHash}
        returning id`,
  );
  return recorded.length > 0;
}

/** DRAFT -> ACTIVE once the recorded deployment `txHash` is confirmed. */
export function activateDeployed(tx: Tx, campaignId: string, contractAddress: string, txHash: string): Promise<CampaignRow | undefined> {
  return row(
    tx,
    CampaignRow,
    sql`update campaigns set status = 'ACTIVE', activated_at = now(), contract_address = ${contractAddress}, deploy_error = null
        where id = ${campaignId} and status = 'DRAFT' and deploy_tx_hash = ${txHash} returning *`,
  );
}

/** The deployment `txHash` reverted: the request is withdrawn and the campaign is a plain DRAFT again. */
export async function withdrawDeployment(tx: Tx, campaignId: string, txHash: string, error: string): Promise<void> {
  await exec(
    tx,
    sql`update campaigns set deploy_requested_at = null, deploy_tx_hash = null, deploy_nonce = null, deploy_address = null, deploy_raw_tx = null, deploy_error = ${error}
        where id = ${campaignId} and status = 'DRAFT' and deploy_tx_hash = ${txHash}`,
  );
}

export async function deploymentFailed(tx: Tx, campaignId: string, error: string): Promise<void> {
  await exec(tx, sql`update campaigns set deploy_error = ${error} where id = ${campaignId} and status = 'DRAFT' and deploy_requested_at is not null`);
}

/** Serialises the deployer key's sends across replicas: a transaction-scoped advisory lock. */
export async function lockDeployer(tx: Tx, key: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${key}))`);
}

// ---- Participants ----

export function participation(db: Session, campaignId: string, userId: string): Promise<ParticipantRow | undefined> {
  return row(db, ParticipantRow, sql`select * from participants where campaign_id = ${campaignId} and user_id = ${userId}`);
}

export function participantByReferralCode(db: Session, code: string): Promise<ParticipantRow | undefined> {
  return row(db, ParticipantRow, sql`select * from participants where referral_code = ${code}`);
}

/** Inserts the participation; undefined when a concurrent join of the same user won. */
export function insertParticipant(
  tx: Tx,
  p: { id: string; campaignId: string; userId: string; referralCode: string; referredBy: string | null },
): Promise<ParticipantRow | undefined> {
  return row(
    tx,
    ParticipantRow,
    sql`insert into participants (id, campaign_id, user_id, referral_code, referred_by) values (${p.id}, ${p.campaignId}, ${p.userId}, ${p.referralCode}, ${p.referredBy})
        on conflict (campaign_id, user_id) do nothing returning *`,
  );
}

// ---- Mints ----

export async function participantClaimed(tx: Tx, participantId: string): Promise<boolean> {
  const found = await rows(tx, z.object({ one: z.number() }), sql`select 1 as one from mints where participant_id = ${participantId}`);
  return found.length > 0;
}

/** Reserves `edition` for the participant: PENDING until minted when the collection is on chain, else MINTED at once. */
export async function insertMint(
  tx: Tx,
  m: { campaignId: string; edition: number; participantId: string; userId: string; wallet: string; contractAddress: string | null },
): Promise<MintRow> {
  const onChain = m.contractAddress !== null;
  const lastAttemptAt: Sql = onChain ? sql`now()` : sql`null`;
  const mintedAt: Sql = onChain ? sql`null` : sql`now()`;
  const inserted = await row(
    tx,
    MintRow,
    sql`insert into mints (campaign_id, edition_number, participant_id, user_id, wallet_address, status, contract_address, attempts, last_attempt_at, minted_at)
        values (${m.campaignId}, ${m.edition}, ${m.participantId}, ${m.userId}, ${m.wallet}, ${onChain ? 'PENDING' : 'MINTED'}, ${m.contractAddress},
                ${onChain ? 1 : 0}, ${lastAttemptAt}, ${mintedAt}) returning *`,
  );
  if (!inserted) throw new Error('insert into mints returned no row');
  return inserted;
}

export function mint(db: Session, campaignId: string, edition: number): Promise<MintRow | undefined> {
  return row(db, MintRow, sql`select * from mints where campaign_id = ${campaignId} and edition_number = ${edition}`);
}

/** Takes the lease of the PENDING mints whose last attempt is older than `leaseSeconds`. */
export function leaseDueMints(tx: Tx, leaseSeconds: number): Promise<MintRow[]> {
  return rows(
    tx,
    MintRow,
    sql`update mints set attempts = attempts + 1, last_attempt_at = now()
        where (campaign_id, edition_number) in (
          select campaign_id, edition_number from mints
          where status = 'PENDING' and (last_attempt_at is null or last_attempt_at < now() - make_interval(secs => ${leaseSeconds}))
          order by reserved_at limit 20 for update skip locked)
        returning *`,
  );
}

export async function recordMintTx(tx: Tx, campaignId: string, edition: number, txHash: string): Promise<void> {
  await exec(tx, sql`update mints set tx_hash = ${txHash} where campaign_id = ${campaignId} and edition_number = ${edition}`);
}

/** PENDING -> MINTED; undefined when it was not PENDING. */
export function markMinted(tx: Tx, campaignId: string, edition: number, txHash: string): Promise<MintRow | undefined> {
  return row(
    tx,
    MintRow,
    sql`update mints set status = 'MINTED', tx_hash = ${txHash}, minted_at = now(), last_error = null
        where campaign_id = ${campaignId} and edition_number = ${edition} and status = 'PENDING' returning *`,
  );
}

export async function mintFailed(tx: Tx, campaignId: string, edition: number, error: string): Promise<void> {
  await exec(tx, sql`update mints set last_error = ${error} where campaign_id = ${campaignId} and edition_number = ${edition} and status = 'PENDING'`);
}

/** ERC-721 metadata's facts of a MINTED edition. */
export function mintedToken(db: Session, campaignId: string, edition: number) {
  return row(
    db,
    z.object({ name: z.string(), drop_name: z.string(), edition_size: z.number(), title: z.string(), edition_number: z.number() }),
    sql`select c.name, c.drop_name, c.edition_size, s.title, m.edition_number
        from mints m join campaigns c on c.id = m.campaign_id join songs s on s.song_id = c.song_id
        where m.campaign_id = ${campaignId} and m.edition_number = ${edition} and m.status = 'MINTED'`,
  );
}

// ---- Loaders' batches ----

/** Songs' newest campaigns, up to `perSong` each: drafts only for their artist (or an ADMIN). */
export function campaignsBySongs(
  db: Session,
  songIds: readonly string[],
  viewer: { userId: string | null; admin: boolean },
  perSong: number,
): Promise<CampaignRow[]> {
  return rows(
    db,
    CampaignRow,
    sql`select * from (select c.*, row_number() over (partition by c.song_id order by c.created_at desc, c.id) as position from campaigns c
                       where c.song_id in (${list(songIds)}) and (c.status <> 'DRAFT' or c.artist_user_id = ${viewer.userId} or ${viewer.admin})) x
        where x.position <= ${perSong} order by x.created_at desc, x.id`,
  );
}

export function participantCounts(db: Session, campaignIds: readonly string[]): Promise<{ id: string; n: number }[]> {
  return rows(
    db,
    CountById,
    sql`select campaign_id as id, count(*)::int as n from participants where campaign_id in (${list(campaignIds)}) group by campaign_id`,
  );
}

export function participationsOf(db: Session, userId: string, campaignIds: readonly string[]): Promise<ParticipantRow[]> {
  return rows(db, ParticipantRow, sql`select * from participants where user_id = ${userId} and campaign_id in (${list(campaignIds)})`);
}

export function referralCounts(db: Session, participantIds: readonly string[]): Promise<{ id: string; n: number }[]> {
  return rows(
    db,
    CountById,
    sql`select referred_by as id, count(*)::int as n from participants where referred_by in (${list(participantIds)}) group by referred_by`,
  );
}

/** Each participant's completed listens of the campaign's song since joining, before endsAt. */
export function listenCounts(db: Session, participantIds: readonly string[]): Promise<{ id: string; n: number }[]> {
  return rows(
    db,
    CountById,
    sql`select p.id, count(l.session_id)::int as n
        from participants p join campaigns c on c.id = p.campaign_id
        left join listens l on l.user_id = p.user_id and l.song_id = c.song_id and l.completed_at >= p.joined_at and l.completed_at < c.ends_at
        where p.id in (${list(participantIds)}) group by p.id`,
  );
}

const AnalyticsCounts = z.object({
  id: z.string(),
  participants: z.number(),
  referrals: z.number(),
  listens: z.number(),
  minted: z.number(),
  claimants: z.number(),
});

export function analyticsCounts(db: Session, campaignIds: readonly string[]) {
  return rows(
    db,
    AnalyticsCounts,
    sql`select c.id,
          (select count(*)::int from participants where campaign_id = c.id) as participants,
          (select count(*)::int from participants where campaign_id = c.id and referred_by is not null) as referrals,
          (select count(*)::int from participants p join listens l on l.user_id = p.user_id and l.song_id = c.song_id
             and l.completed_at >= p.joined_at and l.completed_at >= c.starts_at and l.completed_at < c.ends_at
           where p.campaign_id = c.id) as listens,
          (select count(*)::int from mints where campaign_id = c.id and status = 'MINTED') as minted,
          (select count(*)::int from mints where campaign_id = c.id) as claimants
        from campaigns c where c.id in (${list(campaignIds)})`,
  );
}

export function campaignsByIds(db: Session, ids: readonly string[]): Promise<CampaignRow[]> {
  return rows(db, CampaignRow, sql`select * from campaigns where id in (${list(ids)})`);
}

export function mintsByParticipants(db: Session, participantIds: readonly string[]): Promise<MintRow[]> {
  return rows(db, MintRow, sql`select * from mints where participant_id in (${list(participantIds)})`);
}
