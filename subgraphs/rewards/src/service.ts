import { randomUUID } from 'node:crypto';
import { getAddress } from 'ethers';
import {
  badInput,
  conflict,
  forbidden,
  isSelfOrAdmin,
  isUniqueViolation,
  notFound,
  requireAuth,
  requireRole,
  type LiveEvents,
  type Logger,
  type Persistence,
  type Principal,
  type ProjectionWaits,
  type Session,
  type Tx,
  isUuid,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import type { RewardsConfig } from './config.ts';
import { ListenCompleted, VoucherIssued, liveTopics } from './events.ts';
import { fieldToAddress, parseFieldElement } from './domain/field.ts';
import { creditHeartbeat, epochOf, judgeListen, type ListenRules, type RejectionReason, type SessionProgress } from './domain/listening.ts';
import * as store from './store.ts';
import type { ClaimRow, PoolRow, SessionRow, VoucherRow } from './store.ts';
import type { EpochTrees } from './tree.ts';
import type { ProofVerifierPool } from './verifier.ts';

export type { ClaimRow, PoolRow, SessionRow, VoucherRow } from './store.ts';

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

const returned = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what}: the statement returned no row`);
  return value;
};

/** rewards' use cases: sessions and vouchers (tied to a user) and claims (tied to nobody). */
export class RewardsService {
  private readonly db: Persistence;
  private readonly config: RewardsConfig;
  readonly rules: ListenRules;
  readonly trees: EpochTrees;
  private readonly verifier: ProofVerifierPool;
  private readonly payer: Payer | null;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  private readonly projections: ProjectionWaits;
  private readonly now: () => Date;

  constructor(deps: {
    db: Persistence;
    config: RewardsConfig;
    trees: EpochTrees;
    verifier: ProofVerifierPool;
    payer: Payer | null;
    live: LiveEvents;
    log: Logger;
    projections: ProjectionWaits;
    now?: () => Date;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.trees = deps.trees;
    this.verifier = deps.verifier;
    this.payer = deps.payer;
    this.live = deps.live;
    this.log = deps.log;
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
  async pool(epoch = epochOf(this.now())): Promise<PoolRow> {
    return this.db.useCase((tx) => this.poolIn(tx, epoch));
  }

  private async poolIn(tx: Tx, epoch: number): Promise<PoolRow> {
    await store.ensurePool(tx, epoch, { rewardPerListen: this.config.REWARD_PER_LISTEN, budget: this.config.EPOCH_BUDGET });
    return returned(await store.poolOf(tx, epoch), `pool of epoch ${epoch}`);
  }

  async fundPool(principal: Principal | null, epoch: number, amount: string): Promise<PoolRow> {
    requireRole(principal, 'ADMIN');
    if (!Number.isInteger(epoch) || epoch < 0) throw badInput('epoch must be a day number (days since 1970-01-01, UTC)', 'epoch');
    if (!/^\d+$/.test(amount) || BigInt(amount) <= 0n) throw badInput('amount must be a positive whole number of base units', 'amount');
    return this.db.useCase(async (tx) => {
      await this.poolIn(tx, epoch);
      await store.fundPool(tx, epoch, amount);
      return this.poolIn(tx, epoch);
    });
  }

  async startSession(principal: Principal | null, songId: string): Promise<SessionRow> {
    const p = requireAuth(principal);
    const reader = this.db.reader();
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const song = isUuid(songId) ? await this.projections.find(SongPublished, songId, () => store.songById(reader, songId)) : undefined;
    if (!song) throw notFound('Song');
    return this.db.useCase(async (tx) => {
      // One open session per user: a new one abandons the previous. Concurrent starts of one user
      // queue on this lock, so each abandons the one before it instead of breaking the unique index.
      await store.lockListener(tx, p.userId);
      await store.abandonOpenSessions(tx, p.userId);
      return returned(await store.insertSession(tx, { id: randomUUID(), userId: p.userId, songId, at: this.now() }), 'insert into sessions');
    });
  }

  async heartbeat(principal: Principal | null, sessionId: string, positionSeconds: number): Promise<SessionRow> {
    const p = requireAuth(principal);
    if (!Number.isInteger(positionSeconds) || positionSeconds < 0) throw badInput('positionSeconds must be a non-negative whole number', 'positionSeconds');
    return this.db.useCase(async (tx) => {
      const session = await this.ownSession(tx, p, sessionId);
      if (session.status !== 'OPEN') throw conflict('This listen session has ended');
      const song = returned(await store.songById(tx, session.song_id), "the session's song");
      const next = creditHeartbeat(progressOf(session), { at: this.now(), positionSeconds }, song.duration_seconds, this.rules);
      return returned(await store.saveProgress(tx, session.id, next), 'update sessions');
    });
  }

  async complete(principal: Principal | null, sessionId: string, commitmentText: string): Promise<CompleteResult> {
    const p = requireAuth(principal);
    const commitment = parseFieldElement(commitmentText);
    if (commitment === null || commitment === 0n) throw badInput('commitment must be a non-zero decimal field element', 'commitment');
    const outcome = await this.db.useCase(async (tx) => {
      await store.lockListener(tx, p.userId);
      const session = await this.ownSession(tx, p, sessionId, true);
      if (session.status !== 'OPEN') throw conflict('This listen session was already completed');
      const now = this.now();
      const epoch = epochOf(now);
      const song = returned(await store.songById(tx, session.song_id), "the session's song");
      const counts = returned(await store.voucherCounts(tx, p.userId, session.song_id, epoch), 'voucher counts');
      let reason: RejectionReason | null = judgeListen({
        progress: progressOf(session),
        completedAt: now,
        songDurationSeconds: song.duration_seconds,
        listenerIsArtist: song.artist_user_id === p.userId,
        vouchersToday: counts.today,
        songVouchersToday: counts.song_today,
        rules: this.rules,
      });
      const countedAsListen = reason === null;
      let voucher: VoucherRow | null = null;
      if (reason === null) {
        await this.trees.lockEpoch(tx, epoch);
        const duplicate = await store.commitmentUsed(tx, commitment.toString());
        const pool = await this.poolIn(tx, epoch);
        const drawn = duplicate ? false : await store.drawReward(tx, epoch);
        if (duplicate) reason = 'DUPLICATE_COMMITMENT';
        else if (!drawn) reason = 'POOL_EXHAUSTED';
        else {
          const { leafIndex, root } = await this.trees.append(tx, epoch, commitment);
          voucher = returned(
            await store.insertVoucher(tx, {
              epoch,
              leafIndex,
              commitment: commitment.toString(),
              amount: pool.reward_per_listen,
              sessionId: session.id,
              userId: p.userId,
              songId: session.song_id,
              merkleRoot: root.toString(),
            }),
            'insert into vouchers',
          );
          tx.outbox.record(VoucherIssued, {
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
        tx.outbox.record(ListenCompleted, {
          sessionId: session.id,
          userId: p.userId,
          songId: session.song_id,
          listenedSeconds: Math.floor(session.listened_seconds),
          completedAt: now.toISOString(),
        });
      }
      const updated = returned(
        await store.endSession(tx, session.id, { status: voucher ? 'COMPLETED' : 'REJECTED', completedAt: now, rejectionReason: reason, countedAsListen }),
        'update sessions',
      );
      return { session: updated, voucher, rejectionReason: reason };
    });
    if (outcome.voucher) {
      await this.live
        .publish(liveTopics.voucherIssued(p.userId), { ...voucherPayload(outcome.voucher) })
        .catch((error: unknown) => this.log.warn({ err: error }, 'live voucher event not published'));
    }
    return outcome;
  }

  async path(epoch: number, leafIndex: number) {
    const path = await this.trees.path(this.db.reader(), epoch, leafIndex);
    if (!path) throw notFound('Voucher');
    return { root: path.root.toString(), pathElements: path.pathElements.map(String), pathIndices: path.pathIndices };
  }

  /** A voucher, for its listener (or an ADMIN) only. */
  async voucher(principal: Principal | null, epoch: number, leafIndex: number): Promise<VoucherRow | null> {
    const p = requireAuth(principal);
    const row = await store.voucherAt(this.db.reader(), epoch, leafIndex);
    // A voucher is its listener's own data.
    return row && isSelfOrAdmin(p, row.user_id) ? row : null;
  }

  async claimById(id: string): Promise<ClaimRow | null> {
    return (await store.claimById(this.db.reader(), id)) ?? null;
  }

  /**
   * Claims a voucher with a Groth16 proof. Needs no account: the proof shows that someone knows
   * a leaf's secrets without saying which leaf; the nullifier hash makes it claimable once.
   */
  async claim(proof: unknown, publicSignals: string[]): Promise<ClaimRow> {
    if (publicSignals.length !== 3) throw badInput('publicSignals must be [nullifierHash, root, recipient]', 'publicSignals');
    const [nullifierHash, root, recipientField] = publicSignals.map(parseFieldElement);
    if (
      nullifierHash === null ||
      nullifierHash === undefined ||
      root === null ||
      root === undefined ||
      recipientField === null ||
      recipientField === undefined
    ) {
      throw badInput('publicSignals must be decimal field elements', 'publicSignals');
    }
    const recipientAddress = fieldToAddress(recipientField);
    if (!recipientAddress || recipientField === 0n) throw badInput('recipient is not an Ethereum address', 'publicSignals');
    const recipient = getAddress(recipientAddress);
    if (!isProofShape(proof)) throw badInput('proof must be a snarkjs Groth16 proof object', 'proof');
    const reader = this.db.reader();
    const epoch = await store.epochOfRoot(reader, root.toString());
    if (epoch === undefined) throw badInput('The proof names an unknown Merkle root', 'publicSignals');
    const canonicalSignals = [nullifierHash.toString(), root.toString(), recipientField.toString()] as const;
    if (!(await this.verifier.verify(proof, [...canonicalSignals]))) throw badInput('The proof is not valid for these public signals', 'proof');

    let claim: ClaimRow;
    try {
      claim = await this.db.useCase(async (tx) => {
        const pool = await this.poolIn(tx, epoch);
        return returned(
          await store.insertClaim(tx, {
            id: randomUUID(),
            nullifierHash: canonicalSignals[0],
            epoch,
            root: canonicalSignals[1],
            recipient,
            amount: pool.reward_per_listen,
            status: this.payer ? 'PENDING' : 'CREDITED',
          }),
          'insert into claims',
        );
      });
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
      claim = returned(await store.claimById(reader, claim.id), 'the claim');
    }
    await this.live
      .publish(liveTopics.claimed(recipient), { id: claim.id, status: claim.status, amount: claim.amount, recipient, txHash: claim.tx_hash })
      .catch((error: unknown) => this.log.warn({ err: error }, 'live claim event not published'));
    return claim;
  }

  async listenStats(userId: string) {
    const row = returned(await store.listenStats(this.db.reader(), userId), 'listen stats');
    return { sessions: row.sessions, completedListens: row.completed, vouchersIssued: row.vouchers };
  }

  private async ownSession(db: Session, p: Principal, sessionId: string, lock = false): Promise<SessionRow> {
    const session = isUuid(sessionId) ? await store.sessionById(db, sessionId, lock) : undefined;
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
  if (typeof proof !== 'object' || proof === null) return false;
  return ['pi_a', 'pi_b', 'pi_c'].every((key) => Array.isArray(Reflect.get(proof, key)));
}
