import DataLoader from 'dataloader';
import {
  BigIntScalar,
  DateTimeScalar,
  forbidden,
  idOrNull,
  isSelfOrAdmin,
  isUuid,
  keyOnlyReference,
  parseId,
  referenceById,
  requireAuth,
  type BaseRequestContext,
  type EntityManager,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { RewardsConfig } from './config.ts';
import { JSONScalar } from './scalars.ts';
import type { ClaimRow, RewardsService, SessionRow, VoucherRow } from './service.ts';

export interface RewardsContext extends BaseRequestContext {
  em: EntityManager;
  service: RewardsService;
  config: RewardsConfig;
  loaders: ReturnType<typeof createLoaders>;
}

export function createLoaders(em: EntityManager) {
  return {
    session: new DataLoader<string, SessionRow | null>(async (ids) => {
      // A key that is not an id is no session: it never reaches SQL, where it would fail the whole batch.
      const valid = ids.filter(isUuid);
      const rows = valid.length ? ((await em.execute(`select * from sessions where id in (${valid.map(() => '?').join(', ')})`, valid)) as SessionRow[]) : [];
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    }),
    rewardedListens: new DataLoader<string, number>(async (songIds) => {
      const rows = (await em.execute(
        `select song_id, count(*)::int as n from vouchers where song_id in (${songIds.map(() => '?').join(', ')}) group by song_id`,
        [...songIds],
      )) as { song_id: string; n: number }[];
      return songIds.map((id) => rows.find((r) => r.song_id === id)?.n ?? 0);
    }),
  };
}

export const resolvers: Resolvers<RewardsContext> = {
  DateTime: DateTimeScalar,
  BigInt: BigIntScalar,
  JSON: JSONScalar,
  Query: {
    rewardPool: async (_root, _args, ctx) => ctx.service.pool(ctx.em),
    rewardMerklePath: (_root, { epoch, leafIndex }, ctx) => ctx.service.path(ctx.em, epoch, leafIndex),
    rewardVoucher: async (_root, { epoch, leafIndex }, ctx) => {
      const p = requireAuth(ctx.principal);
      const [row] = (await ctx.em.execute(
        'select epoch, leaf_index, amount::text, merkle_root, session_id, user_id from vouchers where epoch = ? and leaf_index = ?',
        [epoch, leafIndex],
      )) as (VoucherRow & { user_id: string })[];
      // A voucher is its listener's own data.
      return row && isSelfOrAdmin(p, row.user_id) ? row : null;
    },
    rewardClaim: async (_root, { id }, ctx) => {
      const claimId = idOrNull(id);
      if (claimId === null) return null;
      const [row] = (await ctx.em.execute('select id, status, amount::text, recipient, tx_hash from claims where id = ?', [claimId])) as ClaimRow[];
      return row ?? null;
    },
  },
  Mutation: {
    startListenSession: (_root, { songId }, ctx) => ctx.service.startSession(ctx.em, ctx.principal, parseId(songId, 'songId')),
    listenHeartbeat: (_root, { sessionId, positionSeconds }, ctx) =>
      ctx.service.heartbeat(ctx.em, ctx.principal, parseId(sessionId, 'sessionId'), positionSeconds),
    completeListenSession: (_root, { sessionId, commitment }, ctx) =>
      ctx.service.complete(ctx.em, ctx.principal, parseId(sessionId, 'sessionId'), commitment),
    claimListenReward: (_root, { proof, publicSignals }, ctx) => ctx.service.claim(ctx.em, proof, publicSignals),
    fundRewardPool: (_root, { epoch, amount }, ctx) => ctx.service.fundPool(ctx.em, ctx.principal, epoch, amount),
  },
  RewardPool: {
    rewardPerListen: (pool) => pool.reward_per_listen,
    totalBudget: (pool) => pool.total_budget,
    remaining: (pool) => pool.remaining,
    minListenSeconds: (_pool, _args, ctx) => ctx.service.rules.minListenSeconds,
    heartbeatIntervalSeconds: (_pool, _args, ctx) => ctx.service.rules.heartbeatIntervalSeconds,
    treeDepth: (_pool, _args, ctx) => ctx.service.trees.depth,
  },
  ListenSession: {
    __resolveReference: referenceById(async (id, ctx: RewardsContext) => {
      const session = await ctx.loaders.session.load(id);
      // Sessions are their listener's own data.
      return session && isSelfOrAdmin(ctx.principal, session.user_id) ? session : null;
    }),
    startedAt: (s) => s.started_at,
    listenedSeconds: (s) => Math.floor(s.listened_seconds),
    song: (s) => ({ __typename: 'Song' as const, id: s.song_id }),
  },
  RewardVoucher: {
    leafIndex: (v) => v.leaf_index,
    merkleRoot: (v) => v.merkle_root,
    session: async (v, _args, ctx) => (await ctx.loaders.session.load(v.session_id))!,
  },
  RewardClaim: {
    txHash: (c) => c.tx_hash,
  },
  CompleteListenResult: {},
  User: {
    __resolveReference: keyOnlyReference,
    listenStats: (user, _args, ctx) => {
      if (!isSelfOrAdmin(ctx.principal, user.id)) throw forbidden('Listening statistics belong to their listener');
      return ctx.service.listenStats(ctx.em, user.id);
    },
  },
  Song: {
    __resolveReference: keyOnlyReference,
    rewardedListens: (song, _args, ctx) => ctx.loaders.rewardedListens.load(song.id),
  },
};
