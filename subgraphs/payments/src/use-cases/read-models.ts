import { decodeCursor, encodeCursor, pageSize, type Session } from '@vibestream/platform';
import { entitlementsOf, planById, type EntitlementKey, type PlanDefinition } from '../domain/plans.ts';
import { currentSubscription, effectivePlan, type SubscriptionStatus } from '../domain/subscriptions.ts';
import * as store from '../store.ts';
import type { PaymentRow, SubscriptionRow } from '../store.ts';

/** payments' read models: what a user's subscription, entitlements and payments look like. */

export interface SubscriptionModel {
  status: SubscriptionStatus;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  plan: PlanDefinition;
}

export interface EntitlementModel {
  key: EntitlementKey;
  limit: number | null;
  used: number | null;
}

export interface Connection<T> {
  totalCount: number;
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const isSeqCursor = (v: unknown): v is string => typeof v === 'string' && /^\d+$/.test(v);

export function asStored(row: SubscriptionRow) {
  return { planId: row.plan_id, status: row.status, createdAt: new Date(row.stripe_created_at), row };
}

/** The FREE plan's definition (always defined). */
function freePlan(): PlanDefinition {
  const plan = planById('FREE');
  if (!plan) throw new Error('the FREE plan is not defined');
  return plan;
}

/** The user's subscription; FREE (active, no period) when there is none or it ended. */
export async function subscription(db: Session, userId: string): Promise<SubscriptionModel> {
  const current = currentSubscription((await store.subscriptionsOf(db, userId)).map(asStored));
  if (!current || current.row.status === 'CANCELED') {
    return { status: 'ACTIVE', currentPeriodEnd: null, cancelAtPeriodEnd: false, plan: freePlan() };
  }
  return {
    status: current.row.status,
    currentPeriodEnd: current.row.current_period_end ? new Date(current.row.current_period_end) : null,
    cancelAtPeriodEnd: current.row.cancel_at_period_end,
    plan: planById(current.row.plan_id) ?? freePlan(),
  };
}

export async function entitlements(db: Session, userId: string): Promise<EntitlementModel[]> {
  const plan = effectivePlan((await store.subscriptionsOf(db, userId)).map(asStored));
  const usage = await store.usageOf(db, userId);
  const used: Partial<Record<EntitlementKey, number>> = { 'uploads.monthly': usage.uploads, 'storage.bytes': usage.bytes };
  return entitlementsOf(plan).map((e) => ({ ...e, used: used[e.key] ?? null }));
}

export async function payments(
  db: Session,
  userId: string,
  first: number | null | undefined,
  after: string | null | undefined,
): Promise<Connection<PaymentRow>> {
  const size = pageSize(first);
  const cursor = decodeCursor(after, isSeqCursor);
  const rows = await store.paymentsOf(db, userId, cursor, size + 1);
  const totalCount = await store.paymentCountOf(db, userId);
  const edges = rows.slice(0, size).map((node) => ({ cursor: encodeCursor(String(node.seq)), node }));
  return { totalCount, edges, pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? null } };
}
