import { randomUUID } from 'node:crypto';
import { badInput, conflict, requireAuth, type Principal } from '@vibestream/platform';
import { isPaidPlan } from '../domain/plans.ts';
import { currentSubscription, isEntitled } from '../domain/subscriptions.ts';
import * as store from '../store.ts';
import { requireStripe, type PaymentsDeps } from './deps.ts';
import { asStored } from './read-models.ts';

/** Subscriptions by card: Stripe Checkout to buy a plan, the billing portal to change or cancel it. */

/** The user's Stripe customer, created once (the idempotency key makes concurrent first calls create one). */
export async function customerOf(deps: PaymentsDeps, userId: string): Promise<string> {
  const stripe = requireStripe(deps);
  const known = await store.customerOf(deps.db.reader(), userId);
  if (known) return known;
  const customer = await stripe.customers.create({ metadata: { userId } }, { idempotencyKey: `customer-${userId}` });
  return deps.db.useCase(async (tx) => {
    await store.insertCustomer(tx, userId, customer.id);
    const stored = await store.customerOf(tx, userId);
    if (!stored) throw new Error(`no customer stored for user ${userId}`);
    return stored;
  });
}

export async function startCheckout(deps: PaymentsDeps, principal: Principal | null, planId: string): Promise<{ checkoutUrl: string }> {
  const { userId } = requireAuth(principal);
  if (!isPaidPlan(planId)) throw badInput('planId must be one of CREATOR, PRO or STUDIO', 'planId');
  const stripe = requireStripe(deps, 'planId');
  const price = deps.prices.priceOf(planId);
  if (!price) throw badInput(`The ${planId} plan cannot be bought on this server (no Stripe price configured)`, 'planId');
  const current = currentSubscription((await store.subscriptionsOf(deps.db.reader(), userId)).map(asStored));
  if (current && isEntitled(current.row.status)) {
    throw conflict(`You already have the ${current.row.plan_id} plan; change or cancel it in the billing portal`);
  }
  const customer = await customerOf(deps, userId);
  const session = await stripe.checkout.sessions.create(
    {
      mode: 'subscription',
      customer,
      client_reference_id: userId,
      line_items: [{ price, quantity: 1 }],
      success_url: deps.urls.checkoutSuccess,
      cancel_url: deps.urls.checkoutCancel,
      metadata: { userId, planId },
      subscription_data: { metadata: { userId, planId } },
    },
    { idempotencyKey: `checkout-${randomUUID()}` },
  );
  if (!session.url) throw new Error('Stripe returned a Checkout Session without a url');
  return { checkoutUrl: session.url };
}

export async function openPortal(deps: PaymentsDeps, principal: Principal | null): Promise<{ url: string }> {
  const { userId } = requireAuth(principal);
  const stripe = requireStripe(deps);
  const customer = await customerOf(deps, userId);
  const session = await stripe.billingPortal.sessions.create({ customer, return_url: deps.urls.portalReturn }, { idempotencyKey: `portal-${randomUUID()}` });
  return { url: session.url };
}
