import type { planIds } from '../events.ts';

export type PlanId = (typeof planIds)[number];
export type PaidPlanId = Exclude<PlanId, 'FREE'>;

/** The limits other subgraphs enforce. A limit of null is unlimited; for a feature (analytics) 0 is off, null is on. */
export const entitlementKeys = ['uploads.monthly', 'storage.bytes', 'stream.maxBitrateKbps', 'analytics'] as const;
export type EntitlementKey = (typeof entitlementKeys)[number];

export interface PlanDefinition {
  id: PlanId;
  name: string;
  priceCents: number;
  interval: 'MONTH';
  limits: Record<EntitlementKey, number | null>;
}

const GB = 1024 ** 3;

/** The plan table of payments.graphql: the one source of truth for plans and their limits. */
export const plans: readonly PlanDefinition[] = [
  {
    id: 'FREE',
    name: 'Free',
    priceCents: 0,
    interval: 'MONTH',
    limits: { 'uploads.monthly': 3, 'storage.bytes': 1 * GB, 'stream.maxBitrateKbps': 128, analytics: 0 },
  },
  {
    id: 'CREATOR',
    name: 'Creator',
    priceCents: 999,
    interval: 'MONTH',
    limits: { 'uploads.monthly': 50, 'storage.bytes': 10 * GB, 'stream.maxBitrateKbps': 256, analytics: 0 },
  },
  {
    id: 'PRO',
    name: 'Pro',
    priceCents: 2999,
    interval: 'MONTH',
    limits: { 'uploads.monthly': 200, 'storage.bytes': 100 * GB, 'stream.maxBitrateKbps': 320, analytics: null },
  },
  {
    id: 'STUDIO',
    name: 'Studio',
    priceCents: 9999,
    interval: 'MONTH',
    limits: { 'uploads.monthly': 1000, 'storage.bytes': null, 'stream.maxBitrateKbps': 320, analytics: null },
  },
];

export function planById(id: string): PlanDefinition | undefined {
  return plans.find((p) => p.id === id);
}

export function isPaidPlan(id: string): id is PaidPlanId {
  return id !== 'FREE' && planById(id) !== undefined;
}

export interface EntitlementLimit {
  key: EntitlementKey;
  limit: number | null;
}

export function entitlementsOf(planId: PlanId): EntitlementLimit[] {
  const plan = planById(planId)!;
  return entitlementKeys.map((key) => ({ key, limit: plan.limits[key] }));
}

/** Paid plans by their Stripe price id (configuration), and back. */
export class PriceMap {
  private readonly byPlan: Map<PaidPlanId, string>;

  constructor(prices: Partial<Record<PaidPlanId, string | undefined>>) {
    this.byPlan = new Map(Object.entries(prices).filter((e): e is [PaidPlanId, string] => typeof e[1] === 'string' && e[1] !== ''));
  }

  priceOf(planId: PaidPlanId): string | undefined {
    return this.byPlan.get(planId);
  }

  planOf(priceId: string | null | undefined): PaidPlanId | undefined {
    if (!priceId) return undefined;
    for (const [plan, price] of this.byPlan) if (price === priceId) return plan;
    return undefined;
  }
}
