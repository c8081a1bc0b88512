import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

export const paymentMethods = ['CARD', 'USDC_ETHEREUM', 'USDC_SOLANA'] as const;
export const planIds = ['FREE', 'CREATOR', 'PRO', 'STUDIO'] as const;

// ---- Published by payments ----

/** A deposit (card or USDC) succeeded: ownership credits the trading account once per depositId. */
export const DepositSucceeded = defineEvent(
  'payments.deposit.succeeded.v1',
  z.object({
    depositId: z.string().min(1),
    userId: z.uuid(),
    amountCents: z.number().int().positive(),
    method: z.enum(paymentMethods).optional(),
    succeededAt: z.iso.datetime(),
  }),
);

/** A user's plan and limits changed; catalog and others project it. A limit of null is unlimited. */
export const EntitlementsChanged = defineEvent(
  'billing.entitlements.changed.v1',
  z.object({
    userId: z.uuid(),
    planId: z.string(),
    entitlements: z.array(z.object({ key: z.string(), limit: z.number().int().nonnegative().nullable() })),
    changedAt: z.iso.datetime(),
  }),
);

/** A subscription started, changed plan or status, or ended (notifications: SUBSCRIPTION_CHANGED). */
export const SubscriptionChanged = defineEvent(
  'payments.subscription.changed.v1',
  z.object({
    userId: z.uuid(),
    planId: z.enum(planIds),
    previousPlanId: z.enum(planIds).nullable(),
    status: z.enum(['ACTIVE', 'TRIALING', 'PAST_DUE', 'CANCELED', 'INCOMPLETE', 'UNPAID']),
    cancelAtPeriodEnd: z.boolean(),
    currentPeriodEnd: z.iso.datetime().nullable(),
    changedAt: z.iso.datetime(),
  }),
);

export const publishes = [DepositSucceeded, EntitlementsChanged, SubscriptionChanged];
