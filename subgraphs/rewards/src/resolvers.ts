import {
  BigIntScalar,
  DateTimeScalar,
  forbidden,
  idOrNull,
  isSelfOrAdmin,
  keyOnlyReference,
  parseId,
  referenceById,
  type BaseRequestContext,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { RewardsConfig } from './config.ts';
import { JSONScalar } from './scalars.ts';
import type { Loaders } from './loaders.ts';
import type { RewardsService } from './service.ts';

export interface RewardsContext extends BaseRequestContext {
  service: RewardsService;
  config: RewardsConfig;
  loaders: Loaders;
}

export const resolvers: Resolvers<RewardsContext> = {
  DateTime: DateTimeScalar,
  BigInt: BigIntScalar,
  JSON: JSONScalar,
  Query: {
    rewardPool: async (_root, _args, ctx) => ctx.service.pool(),
    rewardMerklePath: (_root, { epoch, leafIndex }, ctx) => ctx.service.path(epoch, leafIndex),
    rewardVoucher: (_root, { epoch, leafIndex }, ctx) => ctx.service.voucher(ctx.principal, epoch, leafIndex),
    rewardClaim: async (_root, { id }, ctx) => {
      const claimId = idOrNull(id);
      return claimId === null ? null : ctx.service.claimById(claimId);
    },
  },
  Mutation: {
    startListenSession: (_root, { songId }, ctx) => ctx.service.startSession(ctx.principal, parseId(songId, 'songId')),
    listenHeartbeat: (_root, { sessionId, positionSeconds }, ctx) => ctx.service.heartbeat(ctx.principal, parseId(sessionId, 'sessionId'), positionSeconds),
    completeListenSession: (_root, { sessionId, commitment }, ctx) => ctx.service.complete(ctx.principal, parseId(sessionId, 'sessionId'), commitment),
    claimListenReward: (_root, { proof, publicSignals }, ctx) => ctx.service.claim(proof, publicSignals),
    fundRewardPool: (_root, { epoch, amount }, ctx) => ctx.service.fundPool(ctx.principal, epoch, amount),
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
      return ctx.service.listenStats(user.id);
    },
  },
  Song: {
    __resolveReference: keyOnlyReference,
    rewardedListens: (song, _args, ctx) => ctx.loaders.rewardedListens.load(song.id),
  },
};
