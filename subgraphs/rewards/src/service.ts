import { randomUUID } from 'node:crypto';
import { getAddress } from 'ethers';
import {
  badInput,
  conflict,
  forbidden,
  isUniqueViolation,
  notFound,
  recordEvent,
  requireAuth,
  requireRole,
  type EntityManager,
  type LiveEvents,
  type Logger,
  type MikroORM,
  type Principal,
  type ProjectionWaits,
  isUuid,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import type { RewardsConfig } from './config.ts';
import { ListenCompleted, VoucherIssued, liveTopics } from './events.ts';
import { fieldToAddress, parseFieldElement } from './domain/field.ts';
import { creditHeartbeat, epochOf, judgeListen, type ListenRules, type RejectionReason, type SessionProgress } from './domain/listening.ts';
import type { EpochTrees } from './tree.ts';
import type { ProofVerifierPool } from './verifier.ts';

export const SOURCE = 'rewards';

export interface SessionRow {
  id: string;
  user_id: string;
  song_id: string;
  status: 'OPEN' | 'COMPLETED' | 'REJECTED' | 'ABANDONED';
  started_at: Date;
  last_heartbeat_at: Date;
  last_position_seconds: number;
  listened_seconds: number;
  gapped: boolean;
}

export interface VoucherRow {
  epoch: number;
  leaf_index: number;
  amount: string;
  merkle_root: string;
  session_id: string;
}

export interface ClaimRow {
  id: string;
  status: 'CREDITED' | 'PENDING' | 'PAID' | 'FAILED';
  amount: string;
  recipient: string;
  tx_hash: string | null;
}

export interface PoolRow {
  epoch: number;
  reward_per_listen: string;
  total_budget: string;
  remaining: string;
}

/** An entity other subgraphs own, known here by its key. */
export interface EntityRef {
  id: string;
}

export interface CompleteResult {
  session: SessionRow;
  voucher: VoucherRow | null;
  rejectionReason: RejectionReason | null;
}

export interface Payer {
  pay(claimId: string): Promise<{ txHash: string }>;
}

/** Kept exported here for this context's modules; the rule is the platform's. */
export { isUuid };

/** rewards' use cases: sessions and vouchers (tied to a user) and claims (tied to nobody). */
export class RewardsService {
  private readonly orm: MikroORM;
  private readonly config: RewardsConfig;
  readonly rules: ListenRules;
  readonly trees: EpochTrees;
  private readonly verifier: ProofVerifierPool;
  private readonly payer: Payer | null;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;
  private readonly projections: ProjectionWaits;
  private readonly now: () => Date;

  constructor(deps: {
    orm: MikroORM;
    config: RewardsConfig;
    trees: EpochTrees;
    verifier: ProofVerifierPool;
    payer: Payer | null;
    live: LiveEvents;
    log: Logger;
    onEventsCommitted: () => void;
    projections: ProjectionWaits;
    now?: () => Date;
  }) {
    this.orm = deps.orm;
    this.config = deps.config;
    this.trees = deps.trees;
    this.verifier = deps.verifier;
    this.payer = deps.payer;
    this.live = deps.live;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
    this.projections = deps.projections;
    this.now = deps.now ?? (() => new Date());
    this.rules = {
      heartbeatIntervalSeconds: deps.config.HEARTBEAT_INTERVAL_SECONDS,
      toleranceSeconds: deps.config.HEARTBEAT_TOLERANCE_SECONDS,
      minListenSeconds: deps.config.MIN_LISTEN_SECONDS,
      dailyCap: deps.config.DAILY_VOUCHER_CAP,
      songDailyCap: deps.config.SONG_DAILY_VOUCHER_CAP,
    };
  }

  /** The epoch's pool, created with the configured reward and budget the first time it is needed. */
  async pool(em: EntityManager, epoch = epochOf(this.now())): Promise<PoolRow> {
    await em.execute(
      'insert into pools (epoch, reward_per_listen, total_budget, remaining) values (?, ?, ?, ?) on conflict do nothing',
      [epoch, this.config.REWARD_PER_LISTEN, this.config.EPOCH_BUDGET, this.config.EPOCH_BUDGET],
    );
    const [pool] = (await em.execute('select epoch, reward_per_listen::text, total_budget::text, remaining::text from pools where epoch = ?', [epoch])) as PoolRow[];
    return pool!;
  }

  async fundPool(em: EntityManager, principal: Principal | null, epoch: number, amount: string): Promise<PoolRow> {
    requireRole(principal, 'ADMIN');
    if (!Number.isInteger(epoch) || epoch < 0) throw badInput('epoch must be a day number (days since 1970-01-01, UTC)', 'epoch');
    if (!/^\d+$/.test(amount) || BigInt(amount) <= 0n) throw badInput('amount must be a positive whole number of base units', 'amount');
    return em.transactional(async (tx) => {
      await this.pool(tx, epoch);
      await tx.execute('update pools set total_budget = total_budget + ?::numeric, remaining = remaining + ?::numeric where epoch = ?', [amount, amount, epoch]);
      return this.pool(tx, epoch);
    });
  }

  async startSession(em: EntityManager, principal: Principal | null, songId: string): Promise<SessionRow> {
    const p = requireAuth(principal);
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const song = isUuid(songId)
      ? await this.projections.find(SongPublished, songId, async () => ((await em.execute('select song_id from songs where song_id = ?', [songId])) as unknown[])[0])
      : undefined;
    if (!song) throw notFound('Song');
    return em.transactional(async (tx) => {
      // One open session per user: a new one abandons the previous. Concurrent starts of one user
      // queue on this lock, so each abandons the one before it instead of breaking the unique index.
      await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`rewards:user:${p.userId}`]);
      await tx.execute(`update sessions set status = 'ABANDONED', completed_at = now() where user_id = ? and status = 'OPEN'`, [p.userId]);
      const now = this.now();
      const [row] = (await tx.execute(
        `insert into sessions (id, user_id, song_id, status, started_at, last_heartbeat_at) values (?, ?, ?, 'OPEN', ?, ?) returning *`,
        [randomUUID(), p.userId, songId, now, now],
      )) as SessionRow[];
      return row!;
    });
  }

  async heartbeat(em: EntityManager, principal: Principal | null, sessionId: string, positionSeconds: number): Promise<SessionRow> {
    const p = requireAuth(principal);
    if (!Number.isInteger(positionSeconds) || positionSeconds < 0) throw badInput('positionSeconds must be a non-negative whole number', 'positionSeconds');
    return em.transactional(async (tx) => {
      const session = await this.ownSession(tx, p, sessionId);
      if (session.status !== 'OPEN') throw conflict('This listen session has ended');
      const [song] = (await tx.execute('select duration_seconds from songs where song_id = ?', [session.song_id])) as { duration_seconds: number }[];
      const next = creditHeartbeat(progressOf(session), { at: this.now(), positionSeconds }, song!.duration_seconds, this.rules);
      const [row] = (await tx.execute(
        `update sessions set listened_seconds = ?, last_heartbeat_at = ?, last_position_seconds = ?, gapped = ? where id = ? returning *`,
        [next.listenedSeconds, next.lastHeartbeatAt, next.lastPositionSeconds, next.gapped, session.id],
      )) as SessionRow[];
      return row!;
    });
  }

  async complete(
    em: EntityManager,
    principal: Principal | null,
    sessionId: string,
    commitmentText: string,
  ): Promise<CompleteResult> {
    const p = requireAuth(principal);
    const commitment = parseFieldElement(commitmentText);
    if (commitment === null || commitment === 0n) throw badInput('commitment must be a non-zero decimal field element', 'commitment');
    const outcome = await em.transactional(async (tx) => {
      await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`rewards:user:${p.userId}`]);
      const session = await this.ownSession(tx, p, sessionId, true);
      if (session.status !== 'OPEN') throw conflict('This listen session was already completed');
      const now = this.now();
      const epoch = epochOf(now);
      const [song] = (await tx.execute('select artist_user_id, duration_seconds from songs where song_id = ?', [session.song_id])) as {
        artist_user_id: string;
        duration_seconds: number;
      }[];
      const [counts] = (await tx.execute(
        `select count(*)::int as today, count(*) filter (where song_id = ?)::int as song_today from vouchers where user_id = ? and epoch = ?`,
        [session.song_id, p.userId, epoch],
      )) as { today: number; song_today: number }[];
      let reason: RejectionReason | null = judgeListen({
        progress: progressOf(session),
        completedAt: now,
        songDurationSeconds: song!.duration_seconds,
        listenerIsArtist: song!.artist_user_id === p.userId,
        vouchersToday: counts!.today,
        songVouchersToday: counts!.song_today,
        rules: this.rules,
      });
      const countedAsListen = reason === null;
      let voucher: VoucherRow | null = null;
      if (reason === null) {
        await this.trees.lockEpoch(tx, epoch);
        const [duplicate] = (await tx.execute('select 1 from vouchers where commitment = ?', [commitment.toString()])) as unknown[];
        const pool = await this.pool(tx, epoch);
        const drawn = duplicate
          ? []
          : ((await tx.execute('update pools set remaining = remaining - reward_per_listen where epoch = ? and remaining >= reward_per_listen returning epoch', [
              epoch,
            ])) as unknown[]);
        if (duplicate) reason = 'DUPLICATE_COMMITMENT';
        else if (drawn.length === 0) reason = 'POOL_EXHAUSTED';
        else {
          const { leafIndex, root } = await this.trees.append(tx, epoch, commitment);
          const [row] = (await tx.execute(
            `insert into vouchers (epoch, leaf_index, commitment, amount, session_id, user_id, song_id, merkle_root)
             values (?, ?, ?, ?, ?, ?, ?, ?) returning epoch, leaf_index, amount::text, merkle_root, session_id`,
            [epoch, leafIndex, commitment.toString(), pool.reward_per_listen, session.id, p.userId, session.song_id, root.toString()],
          )) as VoucherRow[];
          voucher = row!;
          recordEvent(tx, SOURCE, VoucherIssued, {
            userId: p.userId,
            sessionId: session.id,
            songId: session.song_id,
            epoch,
            leafIndex,
            amount: pool.reward_per_listen,
          });
        }
      }
      if (countedAsListen) {
        recordEvent(tx, SOURCE, ListenCompleted, {
          sessionId: session.id,
          userId: p.userId,
          songId: session.song_id,
          listenedSeconds: Math.floor(session.listened_seconds),
          completedAt: now.toISOString(),
        });
      }
      const [updated] = (await tx.execute(
        `update sessions set status = ?, completed_at = ?, rejection_reason = ?, counted_as_listen = ? where id = ? returning *`,
        [voucher ? 'COMPLETED' : 'REJECTED', now, reason, countedAsListen, session.id],
      )) as SessionRow[];
      await tx.flush();
      return { session: updated!, voucher, rejectionReason: reason };
    });
    this.onEventsCommitted();
    if (outcome.voucher) {
      await this.live
        .publish(liveTopics.voucherIssued(p.userId), { ...voucherPayload(outcome.voucher) })
        .catch((error: unknown) => this.log.warn({ err: error }, 'live voucher event not published'));
    }
    return outcome;
  }

  async path(em: EntityManager, epoch: number, leafIndex: number) {
    const path = await this.trees.path(em, epoch, leafIndex);
    if (!path) throw notFound('Voucher');
    return { root: path.root.toString(), pathElements: path.pathElements.map(String), pathIndices: path.pathIndices };
  }

  /**
   * Claims a voucher with a Groth16 proof. Needs no account: the proof shows that someone knows
   * a leaf's secrets without saying which leaf; the nullifier hash makes it claimable once.
   */
  async claim(em: EntityManager, proof: unknown, publicSignals: string[]): Promise<ClaimRow> {
    if (publicSignals.length !== 3) throw badInput('publicSignals must be [nullifierHash, root, recipient]', 'publicSignals');
    const [nullifierHash, root, recipientField] = publicSignals.map(parseFieldElement);
    if (nullifierHash === null || root === null || recipientField === null) throw badInput('publicSignals must be decimal field elements', 'publicSignals');
    const recipientAddress = fieldToAddress(recipientField!);
    if (!recipientAddress || recipientField === 0n) throw badInput('recipient is not an Ethereum address', 'publicSignals');
    const recipient = getAddress(recipientAddress);
    if (!isProofShape(proof)) throw badInput('proof must be a snarkjs Groth16 proof object', 'proof');
    const [known] = (await em.execute('select epoch from tree_roots where root = ?', [root!.toString()])) as { epoch: number }[];
    if (!known) throw badInput('The proof names an unknown Merkle root', 'publicSignals');
    const canonicalSignals = [nullifierHash!.toString(), root!.toString(), recipientField!.toString()];
    if (!(await this.verifier.verify(proof, canonicalSignals))) throw badInput('The proof is not valid for these public signals', 'proof');

    const pool = await this.pool(em, known.epoch);
    let claim: ClaimRow;
    try {
      [claim] = (await em.execute(
        `insert into claims (id, nullifier_hash, epoch, root, recipient, amount, status) values (?, ?, ?, ?, ?, ?, ?)
         returning id, status, amount::text, recipient, tx_hash`,
        [randomUUID(), canonicalSignals[0], known.epoch, canonicalSignals[1], recipient, pool.reward_per_listen, this.payer ? 'PENDING' : 'CREDITED'],
      )) as ClaimRow[] as [ClaimRow];
    } catch (error) {
      if (isUniqueViolation(error, 'claims_nullifier_hash_key')) throw conflict('This voucher was already claimed');
      throw error;
    }
    if (this.payer) {
      try {
        await this.payer.pay(claim.id);
      } catch (error) {
        this.log.error({ err: error, claimId: claim.id }, 'reward payout failed');
      }
      [claim] = (await em.execute('select id, status, amount::text, recipient, tx_hash from claims where id = ?', [claim.id])) as [ClaimRow];
    }
    await this.live
      .publish(liveTopics.claimed(recipient), { id: claim.id, status: claim.status, amount: claim.amount, recipient, txHash: claim.tx_hash })
      .catch((error: unknown) => this.log.warn({ err: error }, 'live claim event not published'));
    return claim;
  }

  async listenStats(em: EntityManager, userId: string) {
    const [row] = (await em.execute(
      `select count(*)::int as sessions, count(*) filter (where counted_as_listen)::int as completed,
              (select count(*)::int from vouchers where user_id = ?) as vouchers
       from sessions where user_id = ?`,
      [userId, userId],
    )) as { sessions: number; completed: number; vouchers: number }[];
    return { sessions: row!.sessions, completedListens: row!.completed, vouchersIssued: row!.vouchers };
  }

  private async ownSession(tx: EntityManager, p: Principal, sessionId: string, lock = false): Promise<SessionRow> {
    const [session] = isUuid(sessionId)
      ? ((await tx.execute(`select * from sessions where id = ?${lock ? ' for update' : ''}`, [sessionId])) as SessionRow[])
      : [];
    if (!session) throw notFound('Listen session');
    if (session.user_id !== p.userId) throw forbidden("Only the session's listener may do this");
    return session;
  }
}

function progressOf(session: SessionRow): SessionProgress {
  return {
    startedAt: new Date(session.started_at),
    listenedSeconds: session.listened_seconds,
    lastHeartbeatAt: new Date(session.last_heartbeat_at),
    lastPositionSeconds: session.last_position_seconds,
    gapped: session.gapped,
  };
}

export function voucherPayload(voucher: VoucherRow) {
  return { epoch: voucher.epoch, leafIndex: voucher.leaf_index, amount: voucher.amount, merkleRoot: voucher.merkle_root, sessionId: voucher.session_id };
}

function isProofShape(proof: unknown): boolean {
  const p = proof as { pi_a?: unknown; pi_b?: unknown; pi_c?: unknown } | null;
  return !!p && Array.isArray(p.pi_a) && Array.isArray(p.pi_b) && Array.isArray(p.pi_c);
}

