import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

const baseUnits = z.string().regex(/^\d+$/);

// ---- Published by rewards ----

/** A listen that passed the listen rules (catalog counts plays, campaigns counts participants' listens). */
export const ListenCompleted = defineEvent(
  'listen.completed.v1',
  z.object({
    sessionId: z.uuid(),
    userId: z.uuid(),
    songId: z.uuid(),
    listenedSeconds: z.number().int().nonnegative(),
    completedAt: z.iso.datetime(),
  }),
);

/** A voucher was issued to a user (notifications). */
export const VoucherIssued = defineEvent(
  'rewards.voucher.issued.v1',
  z.object({
    userId: z.uuid(),
    sessionId: z.uuid(),
    songId: z.uuid(),
    epoch: z.number().int(),
    leafIndex: z.number().int().nonnegative(),
    amount: baseUnits,
  }),
);

/** Budget added to an epoch's pool; consumed by rewards itself, published by whoever funds it. */
export const PoolFunded = defineEvent(
  'rewards.pool.funded.v1',
  z.object({ epoch: z.number().int().nonnegative(), amount: baseUnits, fundedBy: z.string().optional() }),
);

export const publishes = [ListenCompleted, VoucherIssued];
