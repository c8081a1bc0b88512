import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';

/**
 * rewards' SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

/** Timestamps and numerics arrive as PostgreSQL prints them. */
const timestamp = z.string();
const numeric = z.string();

export const SessionRow = z.object({
  id: z.string(),
  user_id: z.string(),
  song_id: z.string(),
  status: z.enum(['OPEN', 'COMPLETED', 'REJECTED', 'ABANDONED']),
  started_at: timestamp,
  last_heartbeat_at: timestamp,
  last_position_seconds: z.number(),
  listened_seconds: z.number(),
  gapped: z.boolean(),
});
export type SessionRow = z.output<typeof SessionRow>;

export const VoucherRow = z.object({ epoch: z.number(), leaf_index: z.number(), amount: numeric, merkle_root: z.string(), session_id: z.string() });
export type VoucherRow = z.output<typeof VoucherRow>;

export const ClaimRow = z.object({
  id: z.string(),
  status: z.enum(['CREDITED', 'PENDING', 'PAID', 'FAILED']),
  amount: numeric,
  recipient: z.string(),
  tx_hash: z.string().nullable(),
});
export type ClaimRow = z.output<typeof ClaimRow>;

export const PoolRow = z.object({ epoch: z.number(), reward_per_listen: numeric, total_budget: numeric, remaining: numeric });
export type PoolRow = z.output<typeof PoolRow>;

const list = (values: readonly string[]) => sql.join(values);

// ---- Songs (catalog.song.published.v1) ----

export async function upsertSong(tx: Tx, song: { songId: string; artistUserId: string; durationSeconds: number; publishedAt: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into songs (song_id, artist_user_id, duration_seconds, published_at) values (${song.songId}, ${song.artistUserId}, ${song.durationSeconds}, ${song.publishedAt})
        on conflict (song_id) do update set artist_user_id = excluded.artist_user_id, duration_seconds = excluded.duration_seconds`,
  );
}

export async function songById(db: Session, songId: string) {
  return row(
    db,
    z.object({ song_id: z.string(), artist_user_id: z.string(), duration_seconds: z.number() }),
    sql`select song_id, artist_user_id, duration_seconds from songs where song_id = ${songId}`,
  );
}

// ---- Pools ----

/** Creates the epoch's pool with these defaults unless it exists. */
export async function ensurePool(tx: Tx, epoch: number, defaults: { rewardPerListen: string; budget: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into pools (epoch, reward_per_listen, total_budget, remaining) values (${epoch}, ${defaults.rewardPerListen}, ${defaults.budget}, ${defaults.budget}) on conflict do nothing`,
  );
}

export async function poolOf(db: Session, epoch: number): Promise<PoolRow | undefined> {
  return row(db, PoolRow, sql`select epoch, reward_per_listen::text, total_budget::text, remaining::text from pools where epoch = ${epoch}`);
}

export async function fundPool(tx: Tx, epoch: number, amount: string): Promise<void> {
  await exec(tx, sql`update pools set total_budget = total_budget + ${amount}::numeric, remaining = remaining + ${amount}::numeric where epoch = ${epoch}`);
}

/** Draws one listen's reward from the pool; false when too little remains. */
export async function drawReward(tx: Tx, epoch: number): Promise<boolean> {
  const drawn = await rows(
    tx,
    z.object({ epoch: z.number() }),
    sql`update pools set remaining = remaining - reward_per_listen where epoch = ${epoch} and remaining >= reward_per_listen returning epoch`,
  );
  return drawn.length > 0;
}

// ---- Sessions ----

/** Serialises one listener's session changes until commit. */
export async function lockListener(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`rewards:user:${userId}`}))`);
}

export async function abandonOpenSessions(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`update sessions set status = 'ABANDONED', completed_at = now() where user_id = ${userId} and status = 'OPEN'`);
}

export async function insertSession(tx: Tx, s: { id: string; userId: string; songId: string; at: Date }): Promise<SessionRow | undefined> {
  return row(
    tx,
    SessionRow,
    sql`insert into sessions (id, user_id, song_id, status, started_at, last_heartbeat_at) values (${s.id}, ${s.userId}, ${s.songId}, 'OPEN', ${s.at}, ${s.at}) returning *`,
  );
}

export async function sessionById(db: Session, id: string, lock = false): Promise<SessionRow | undefined> {
  return row(db, SessionRow, sql`select * from sessions where id = ${id} ${lock ? sql`for update` : sql``}`);
}

export async function sessionsByIds(db: Session, ids: readonly string[]): Promise<SessionRow[]> {
  return rows(db, SessionRow, sql`select * from sessions where id in (${list(ids)})`);
}

export async function saveProgress(
  tx: Tx,
  id: string,
  p: { listenedSeconds: number; lastHeartbeatAt: Date; lastPositionSeconds: number; gapped: boolean },
): Promise<SessionRow | undefined> {
  return row(
    tx,
    SessionRow,
    sql`update sessions set listened_seconds = ${p.listenedSeconds}, last_heartbeat_at = ${p.lastHeartbeatAt}, last_position_seconds = ${p.lastPositionSeconds}, gapped = ${p.gapped}
        where id = ${id} returning *`,
  );
}

export async function endSession(
  tx: Tx,
  id: string,
  e: { status: 'COMPLETED' | 'REJECTED'; completedAt: Date; rejectionReason: string | null; countedAsListen: boolean },
): Promise<SessionRow | undefined> {
  return row(
    tx,
    SessionRow,
    sql`update sessions set status = ${e.status}, completed_at = ${e.completedAt}, rejection_reason = ${e.rejectionReason}, counted_as_listen = ${e.countedAsListen}
        where id = ${id} returning *`,
  );
}

export async function listenStats(db: Session, userId: string) {
  return row(
    db,
    z.object({ sessions: z.number(), completed: z.number(), vouchers: z.number() }),
    sql`select count(*)::int as sessions, count(*) filter (where counted_as_listen)::int as completed,
               (select count(*)::int from vouchers where user_id = ${userId}) as vouchers
        from sessions where user_id = ${userId}`,
  );
}

// ---- Vouchers ----

/** The listener's vouchers today, in all and for one song. */
export async function voucherCounts(db: Session, userId: string, songId: string, epoch: number) {
  return row(
    db,
    z.object({ today: z.number(), song_today: z.number() }),
    sql`select count(*)::int as today, count(*) filter (where song_id = ${songId})::int as song_today from vouchers where user_id = ${userId} and epoch = ${epoch}`,
  );
}

export async function commitmentUsed(db: Session, commitment: string): Promise<boolean> {
  return (await rows(db, z.object({ used: z.number() }), sql`select 1 as used from vouchers where commitment = ${commitment}`)).length > 0;
}

export async function insertVoucher(
  tx: Tx,
  v: { epoch: number; leafIndex: number; commitment: string; amount: string; sessionId: string; userId: string; songId: string; merkleRoot: string },
): Promise<VoucherRow | undefined> {
  return row(
    tx,
    VoucherRow,
    sql`insert into vouchers (epoch, leaf_index, commitment, amount, session_id, user_id, song_id, merkle_root)
        values (${v.epoch}, ${v.leafIndex}, ${v.commitment}, ${v.amount}, ${v.sessionId}, ${v.userId}, ${v.songId}, ${v.merkleRoot})
        returning epoch, leaf_index, amount::text, merkle_root, session_id`,
  );
}

export async function voucherAt(db: Session, epoch: number, leafIndex: number) {
  return row(
    db,
    VoucherRow.extend({ user_id: z.string() }),
    sql`select epoch, leaf_index, amount::text, merkle_root, session_id, user_id from vouchers where epoch = ${epoch} and leaf_index = ${leafIndex}`,
  );
}

export async function rewardedListens(db: Session, songIds: readonly string[]): Promise<Map<string, number>> {
  const found = await rows(
    db,
    z.object({ song_id: z.string(), n: z.number() }),
    sql`select song_id, count(*)::int as n from vouchers where song_id in (${list(songIds)}) group by song_id`,
  );
  return new Map(found.map((r) => [r.song_id, r.n]));
}

// ---- Epoch trees ----

/** Serialises appends to the epoch's tree until commit. */
export async function lockTree(tx: Tx, epoch: number): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`rewards:tree:${epoch}`}))`);
}

/** The tree's leaf count, the tree created empty first if needed, locked until commit. */
export async function lockTreeSize(tx: Tx, epoch: number, emptyRoot: string): Promise<number> {
  await exec(tx, sql`insert into trees (epoch, leaf_count, root) values (${epoch}, 0, ${emptyRoot}) on conflict do nothing`);
  const tree = await row(tx, z.object({ leaf_count: z.number() }), sql`select leaf_count from trees where epoch = ${epoch} for update`);
  if (!tree) throw new Error(`tree of epoch ${epoch} not found after creating it`);
  return tree.leaf_count;
}

export async function treeSize(db: Session, epoch: number): Promise<number | undefined> {
  return (await row(db, z.object({ leaf_count: z.number() }), sql`select leaf_count from trees where epoch = ${epoch}`))?.leaf_count;
}

export async function treeNodes(db: Session, epoch: number, refs: readonly { level: number; index: number }[]): Promise<Map<string, bigint>> {
  const found = await rows(
    db,
    z.object({ level: z.number(), idx: z.number(), value: z.string() }),
    sql`select level, idx, value from tree_nodes where epoch = ${epoch} and (level, idx) in (${sql.join(refs.map((r) => sql`(${r.level}, ${r.index})`))})`,
  );
  return new Map(found.map((r) => [`${r.level}:${r.idx}`, BigInt(r.value)]));
}

/** Writes the appended leaf's nodes and the new root, keeping the last `rootHistory` roots. */
export async function saveAppend(
  tx: Tx,
  a: { epoch: number; nodes: readonly { level: number; index: number; value: bigint }[]; leafCount: number; root: string; rootHistory: number },
): Promise<void> {
  const values = a.nodes.map((n) => sql`(${a.epoch}, ${n.level}, ${n.index}, ${n.value.toString()})`);
  await exec(
    tx,
    sql`insert into tree_nodes (epoch, level, idx, value) values ${sql.join(values)} on conflict (epoch, level, idx) do update set value = excluded.value`,
  );
  await exec(tx, sql`update trees set leaf_count = ${a.leafCount}, root = ${a.root} where epoch = ${a.epoch}`);
  await exec(tx, sql`insert into tree_roots (root, epoch, leaf_count) values (${a.root}, ${a.epoch}, ${a.leafCount}) on conflict do nothing`);
  await exec(tx, sql`delete from tree_roots where epoch = ${a.epoch} and leaf_count <= ${a.leafCount - a.rootHistory}`);
}

export async function epochOfRoot(db: Session, root: string): Promise<number | undefined> {
  return (await row(db, z.object({ epoch: z.number() }), sql`select epoch from tree_roots where root = ${root}`))?.epoch;
}

// ---- Claims and payouts ----

export async function insertClaim(
  tx: Tx,
  c: { id: string; nullifierHash: string; epoch: number; root: string; recipient: string; amount: string; status: 'PENDING' | 'CREDITED' },
): Promise<ClaimRow | undefined> {
  return row(
    tx,
    ClaimRow,
    sql`insert into claims (id, nullifier_hash, epoch, root, recipient, amount, status) values (${c.id}, ${c.nullifierHash}, ${c.epoch}, ${c.root}, ${c.recipient}, ${c.amount}, ${c.status})
        returning id, status, amount::text, recipient, tx_hash`,
  );
}

export async function claimById(db: Session, id: string): Promise<ClaimRow | undefined> {
  return row(db, ClaimRow, sql`select id, status, amount::text, recipient, tx_hash from claims where id = ${id}`);
}

export async function payoutOf(db: Session, claimId: string) {
  return row(
    db,
    z.object({
      id: z.string(),
      recipient: z.string(),
      amount: numeric,
      raw_tx: z.string().nullable(),
      tx_hash: z.string().nullable(),
      nonce: z.number().nullable(),
      status: z.string(),
    }),
    sql`select id, recipient, amount::text, raw_tx, tx_hash, nonce, status from claims where id = ${claimId}`,
  );
}

/** Keeps the signed payout on the claim; false when it already had one. */
export async function savePayoutSigned(tx: Tx, claimId: string, signed: { rawTx: string; txHash: string; nonce: number }): Promise<boolean> {
  const updated = await rows(
    tx,
    z.object({ id: z.string() }),
    sql`update claims set raw_tx = ${signed.rawTx}, tx_hash = ${signed.txHash}, nonce = ${signed.nonce} where id = ${claimId} and raw_tx is null returning id`,
  );
  return updated.length > 0;
}

export async function markClaimPaid(tx: Tx, claimId: string, txHash: string): Promise<void> {
  await exec(tx, sql`update claims set status = 'PAID', tx_hash = ${txHash}, paid_at = now() where id = ${claimId}`);
}

export async function markClaimFailed(tx: Tx, claimId: string, reason: string): Promise<void> {
  await exec(tx, sql`update claims set status = 'FAILED', failure = ${reason} where id = ${claimId} and status <> 'PAID'`);
}

export async function pendingClaims(db: Session): Promise<string[]> {
  return (await rows(db, z.object({ id: z.string() }), sql`select id from claims where status = 'PENDING' order by nonce nulls last, created_at`)).map(
    (r) => r.id,
  );
}
