import type { PaidPlanId, PlanId } from './plans.ts';

export const subscriptionStatuses = ['ACTIVE', 'TRIALING', 'PAST_DUE', 'CANCELED', 'INCOMPLETE', 'UNPAID'] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];

/** Stripe's subscription statuses in ours. An expired first payment is an ended subscription; a paused one collects nothing. */
export function statusFromStripe(status: string): SubscriptionStatus {
  switch (status) {
    case 'active':
      return 'ACTIVE';
    case 'trialing':
      return 'TRIALING';
    case 'past_due':
      return 'PAST_DUE';
    case 'canceled':
    case 'incomplete_expired':
      return 'CANCELED';
    case 'incomplete':
      return 'INCOMPLETE';
    case 'unpaid':
    case 'paused':
      return 'UNPAID';
    default:
      throw new Error(`unknown Stripe subscription status: ${status}`);
  }
}

/** Statuses that keep the plan's entitlements: PAST_DUE too, while Stripe retries the payment. */
export function isEntitled(status: SubscriptionStatus): boolean {
  return status === 'ACTIVE' || status === 'TRIALING' || status === 'PAST_DUE';
}

export interface StoredSubscription {
  planId: PaidPlanId;
  status: SubscriptionStatus;
  /** Stripe's creation time of the subscription, to choose among a user's subscriptions. */
  createdAt: Date;
}

/** The subscription that speaks for the user: the newest entitled one, else the newest of any status. */
export function currentSubscription<S extends StoredSubscription>(subscriptions: S[]): S | null {
  const newestFirst = [...subscriptions].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  return newestFirst.find((s) => isEntitled(s.status)) ?? newestFirst[0] ?? null;
}

/** Everyone without an entitled paid subscription is on FREE. */
export function effectivePlan(subscriptions: StoredSubscription[]): PlanId {
  const current = currentSubscription(subscriptions);
  return current && isEntitled(current.status) ? current.planId : 'FREE';
}

/** How far along its life a status is: INCOMPLETE first, CANCELED last; ACTIVE and PAST_DUE go back and forth. */
const lifecycleRank: Record<SubscriptionStatus, number> = { INCOMPLETE: 0, TRIALING: 1, ACTIVE: 2, PAST_DUE: 2, UNPAID: 3, CANCELED: 4 };

/**
 * Whether a webhook's view of a subscription may replace the stored one. Versions are the
 * Stripe event's `created` (seconds): an older view never rolls state back. Stripe gives
 * nothing finer than a second, so within the same second a view may not move the status back
 * along its life (a late "incomplete" from creation never undoes the payment that activated it).
 */
export function mayReplace(stored: { version: number; status: SubscriptionStatus } | null, incoming: { version: number; status: SubscriptionStatus }): boolean {
  if (!stored || incoming.version > stored.version) return true;
  return incoming.version === stored.version && lifecycleRank[incoming.status] >= lifecycleRank[stored.status];
}

/** What an invoice outcome does to a subscription's status (null: nothing). */
export function statusAfterInvoice(current: SubscriptionStatus, outcome: 'paid' | 'payment_failed'): SubscriptionStatus | null {
  if (outcome === 'paid') return current === 'PAST_DUE' || current === 'UNPAID' || current === 'INCOMPLETE' ? 'ACTIVE' : null;
  return current === 'ACTIVE' || current === 'TRIALING' ? 'PAST_DUE' : null;
}
