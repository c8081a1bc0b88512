import { randomUUID } from 'node:crypto';
import { isUuid, type Tx } from '@vibestream/platform';
import { entitlementsOf, isPaidPlan, type PaidPlanId } from '../domain/plans.ts';
import { effectivePlan, mayReplace, statusAfterInvoice, statusFromStripe, type SubscriptionStatus } from '../domain/subscriptions.ts';
import { EntitlementsChanged, SubscriptionChanged } from '../events.ts';
import * as store from '../store.ts';
import { idOf, type Stripe } from '../stripe.ts';
import type { PaymentsDeps } from './deps.ts';
import { recordDepositSucceeded } from './deposits.ts';
import { asStored } from './read-models.ts';

/** Stripe's webhooks: the six event types that move subscriptions, invoices and card deposits. */

/** A subscription as one webhook describes it; null fields are unknown to that event and keep their stored value. */
export interface SubscriptionView {
  subscriptionId: string;
  userId: string;
  customerId: string | null;
  planId: PaidPlanId;
  status: SubscriptionStatus;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean | null;
  createdAt: Date;
}

/**
 * Applies one verified Stripe event as one use case. The event id is recorded in the transaction
 * of its effects, so a redelivery changes nothing; answers whether it took effect now.
 */
export async function applyStripeEvent(deps: PaymentsDeps, event: Stripe.Event): Promise<boolean> {
  return deps.db.useCase(async (tx) => {
    if (!(await store.recordStripeEvent(tx, event))) return false;
    await applyEffects(deps, tx, event);
    return true;
  });
}

async function applyEffects(deps: PaymentsDeps, tx: Tx, event: Stripe.Event): Promise<void> {
  switch (event.type) {
    case 'checkout.session.completed':
      return onCheckoutCompleted(deps, tx, event.data.object, event.created);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return onSubscriptionEvent(deps, tx, event.data.object, event.created, event.type === 'customer.subscription.deleted');
    case 'invoice.paid':
      return onInvoice(deps, tx, event.data.object, 'paid', event.created);
    case 'invoice.payment_failed':
      return onInvoice(deps, tx, event.data.object, 'payment_failed', event.created);
    case 'payment_intent.succeeded':
      return onPaymentIntentSucceeded(deps, tx, event.data.object);
    case 'payment_intent.payment_failed':
      return store.markIntentFailed(tx, event.data.object.id);
    default:
      deps.log.debug({ type: event.type, eventId: event.id }, 'Stripe event type not handled');
  }
}

async function onCheckoutCompleted(deps: PaymentsDeps, tx: Tx, session: Stripe.Checkout.Session, version: number): Promise<void> {
  if (session.mode !== 'subscription') return;
  const userId = [session.client_reference_id, session.metadata?.userId].find((v): v is string => typeof v === 'string' && isUuid(v));
  const subscriptionId = idOf(session.subscription);
  const planId = session.metadata?.planId;
  if (!userId || !subscriptionId || !planId || !isPaidPlan(planId)) {
    deps.log.warn({ sessionId: session.id }, 'checkout.session.completed without a user, subscription or plan of ours; ignored');
    return;
  }
  const customerId = idOf(session.customer);
  if (customerId) await store.insertCustomer(tx, userId, customerId);
  const status: SubscriptionStatus =
    session.payment_status === 'paid' ? 'ACTIVE' : session.payment_status === 'no_payment_required' ? 'TRIALING' : 'INCOMPLETE';
  await storeSubscription(
    tx,
    { subscriptionId, userId, customerId, planId, status, currentPeriodEnd: null, cancelAtPeriodEnd: null, createdAt: new Date(session.created * 1000) },
    version,
  );
}

/** The paid plan a subscription's metadata names, if any. */
function metadataPlan(sub: Stripe.Subscription): PaidPlanId | undefined {
  const planId = sub.metadata?.planId;
  return planId !== undefined && isPaidPlan(planId) ? planId : undefined;
}

/** Older API versions put the period end on the subscription, newer ones on its items. */
function periodEndOf(sub: Stripe.Subscription): number | undefined {
  const legacy: unknown = Reflect.get(sub, 'current_period_end');
  return sub.items?.data?.[0]?.current_period_end ?? (typeof legacy === 'number' ? legacy : undefined);
}

async function onSubscriptionEvent(deps: PaymentsDeps, tx: Tx, sub: Stripe.Subscription, version: number, deleted: boolean): Promise<void> {
  const customerId = idOf(sub.customer);
  const userId = await userOf(tx, sub.metadata?.userId, customerId);
  const item = sub.items?.data?.[0];
  const planId = deps.prices.planOf(item?.price?.id) ?? metadataPlan(sub);
  if (!userId || !planId) {
    deps.log.warn({ subscriptionId: sub.id }, 'subscription event for an unknown user or price; ignored');
    return;
  }
  const periodEnd = periodEndOf(sub);
  await storeSubscription(
    tx,
    {
      subscriptionId: sub.id,
      userId,
      customerId,
      planId,
      status: deleted ? 'CANCELED' : statusFromStripe(sub.status),
      currentPeriodEnd: periodEnd ? new Date(periodEnd * 1000) : null,
      cancelAtPeriodEnd: sub.cancel_at_period_end,
      createdAt: new Date(sub.created * 1000),
    },
    version,
  );
}

/** Older API versions name the invoice's subscription on the invoice, newer ones under parent. */
function subscriptionOfInvoice(invoice: Stripe.Invoice): string | null {
  const legacy: unknown = Reflect.get(invoice, 'subscription');
  return idOf(invoice.parent?.subscription_details?.subscription) ?? (typeof legacy === 'string' ? legacy : idOfObject(legacy));
}

function idOfObject(value: unknown): string | null {
  return typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string' ? value.id : null;
}

async function onInvoice(deps: PaymentsDeps, tx: Tx, invoice: Stripe.Invoice, outcome: 'paid' | 'payment_failed', version: number): Promise<void> {
  const subscriptionId = subscriptionOfInvoice(invoice);
  const sub = subscriptionId ? await store.subscriptionById(tx, subscriptionId) : undefined;
  const userId = sub?.user_id ?? (await userOf(tx, undefined, idOf(invoice.customer)));
  if (!userId) {
    deps.log.warn({ invoiceId: invoice.id }, 'invoice for an unknown customer; ignored');
    return;
  }
  const paid = outcome === 'paid';
  await store.upsertInvoicePayment(tx, {
    id: randomUUID(),
    userId,
    paid,
    amountCents: paid ? invoice.amount_paid : invoice.amount_due,
    invoiceId: invoice.id,
    succeededAt: paid ? new Date() : null,
  });
  if (!sub) return;
  const next = statusAfterInvoice(sub.status, outcome);
  if (!next) return;
  await storeSubscription(
    tx,
    {
      subscriptionId: sub.stripe_subscription_id,
      userId: sub.user_id,
      customerId: sub.stripe_customer_id,
      planId: sub.plan_id,
      status: next,
      currentPeriodEnd: null,
      cancelAtPeriodEnd: null,
      createdAt: new Date(sub.stripe_created_at),
    },
    version,
  );
}

async function onPaymentIntentSucceeded(deps: PaymentsDeps, tx: Tx, intent: Stripe.PaymentIntent): Promise<void> {
  const deposit = await store.lockDepositOfIntent(tx, intent.id);
  if (!deposit) return;
  if (deposit.status === 'SUCCEEDED') return;
  if (intent.currency !== 'usd' || intent.amount_received !== Number(deposit.amount_cents)) {
    deps.log.error({ depositId: deposit.id, intentId: intent.id }, 'PaymentIntent amount or currency differs from the deposit; not credited');
    return;
  }
  // Success is final: it also overrides an earlier failed attempt of the same intent.
  const row = await store.markDepositSucceeded(tx, deposit.id);
  if (row) recordDepositSucceeded(tx, row);
}

async function userOf(tx: Tx, metadataUserId: string | undefined, customerId: string | null): Promise<string | null> {
  if (metadataUserId && isUuid(metadataUserId)) return metadataUserId;
  if (!customerId) return null;
  return (await store.userOfCustomer(tx, customerId)) ?? null;
}

/**
 * Stores a subscription's new state unless the stored one is newer, publishes
 * payments.subscription.changed.v1 when it changed and billing.entitlements.changed.v1 when
 * the user's plan did. Runs under the user's lock, so concurrent events of one user serialize.
 */
async function storeSubscription(tx: Tx, view: SubscriptionView, version: number): Promise<void> {
  await store.lockUser(tx, view.userId);
  const stored = await store.lockSubscription(tx, view.subscriptionId);
  if (!mayReplace(stored ? { version: Number(stored.version), status: stored.status } : null, { version, status: view.status })) return;
  const storedPeriodEnd = stored?.current_period_end ? new Date(stored.current_period_end) : null;
  const next = {
    planId: view.planId,
    status: view.status,
    currentPeriodEnd: view.currentPeriodEnd ?? storedPeriodEnd,
    cancelAtPeriodEnd: view.cancelAtPeriodEnd ?? stored?.cancel_at_period_end ?? false,
  };
  const changed =
    !stored ||
    stored.plan_id !== next.planId ||
    stored.status !== next.status ||
    stored.cancel_at_period_end !== next.cancelAtPeriodEnd ||
    (storedPeriodEnd?.getTime() ?? null) !== (next.currentPeriodEnd?.getTime() ?? null);
  await store.upsertSubscription(tx, {
    subscriptionId: view.subscriptionId,
    userId: view.userId,
    customerId: view.customerId,
    planId: next.planId,
    status: next.status,
    currentPeriodEnd: next.currentPeriodEnd,
    cancelAtPeriodEnd: next.cancelAtPeriodEnd,
    createdAt: view.createdAt,
    version,
  });
  if (!changed) return;
  tx.outbox.record(SubscriptionChanged, {
    userId: view.userId,
    planId: next.planId,
    previousPlanId: stored ? stored.plan_id : null,
    status: next.status,
    cancelAtPeriodEnd: next.cancelAtPeriodEnd,
    currentPeriodEnd: next.currentPeriodEnd ? next.currentPeriodEnd.toISOString() : null,
    changedAt: new Date().toISOString(),
  });
  await syncEntitlements(tx, view.userId);
}

/** Publishes the user's entitlements when their effective plan differs from the one last published. */
async function syncEntitlements(tx: Tx, userId: string): Promise<void> {
  const plan = effectivePlan((await store.subscriptionsOf(tx, userId)).map(asStored));
  if ((await store.publishedPlanOf(tx, userId)) === plan) return;
  const changedAt = new Date();
  await store.savePublishedPlan(tx, userId, plan, changedAt);
  tx.outbox.record(EntitlementsChanged, { userId, planId: plan, entitlements: entitlementsOf(plan), changedAt: changedAt.toISOString() });
}
