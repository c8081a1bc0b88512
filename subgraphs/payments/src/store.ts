import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';
import { paymentMethods, planIds } from './events.ts';
import type { PaidPlanId, PlanId } from './domain/plans.ts';
import { subscriptionStatuses, type SubscriptionStatus } from './domain/subscriptions.ts';
import type { WalletChain } from './domain/wallets.ts';

/**
 * payments' SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

/** Timestamps, bigints and numerics arrive as PostgreSQL prints them. */
const timestamp = z.string();
const bigintText = z.string();
const paidPlan = z.enum(planIds).exclude(['FREE']);

export const PaymentRow = z.object({
  id: z.string(),
  user_id: z.string(),
  kind: z.enum(['DEPOSIT', 'SUBSCRIPTION']),
  method: z.enum(paymentMethods),
  status: z.enum(['PENDING', 'SUCCEEDED', 'FAILED']),
  amount_cents: bigintText,
  stripe_payment_intent_id: z.string().nullable(),
  deposit_address: z.string().nullable(),
  expected_base_units: bigintText.nullable(),
  tx_hash: z.string().nullable(),
  seq: bigintText,
  created_at: timestamp,
});
export type PaymentRow = z.output<typeof PaymentRow>;

export const SubscriptionRow = z.object({
  stripe_subscription_id: z.string(),
  user_id: z.string(),
  stripe_customer_id: z.string().nullable(),
  plan_id: paidPlan,
  status: z.enum(subscriptionStatuses),
  current_period_end: timestamp.nullable(),
  cancel_at_period_end: z.boolean(),
  stripe_created_at: timestamp,
  version: bigintText,
});
export type SubscriptionRow = z.output<typeof SubscriptionRow>;

const UserId = z.object({ user_id: z.string() });
const CustomerId = z.object({ stripe_customer_id: z.string() });

// ---- Subscriptions and plans ----

export async function subscriptionsOf(db: Session, userId: string): Promise<SubscriptionRow[]> {
  return rows(db, SubscriptionRow, sql`select * from subscriptions where user_id = ${userId}`);
}

export async function subscriptionById(db: Session, subscriptionId: string): Promise<SubscriptionRow | undefined> {
  return row(db, SubscriptionRow, sql`select * from subscriptions where stripe_subscription_id = ${subscriptionId}`);
}

/** The subscription, locked for the rest of the transaction. */
export async function lockSubscription(tx: Tx, subscriptionId: string): Promise<SubscriptionRow | undefined> {
  return row(tx, SubscriptionRow, sql`select * from subscriptions where stripe_subscription_id = ${subscriptionId} for update`);
}

/** Serializes the transactions that change one user's subscriptions, until commit. */
export async function lockUser(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`payments:user:${userId}`}))`);
}

export async function upsertSubscription(
  tx: Tx,
  s: {
    subscriptionId: string;
    userId: string;
    customerId: string | null;
    planId: PaidPlanId;
    status: SubscriptionStatus;
    currentPeriodEnd: Date | null;
    cancelAtPeriodEnd: boolean;
    createdAt: Date;
    version: number;
  },
): Promise<void> {
  await exec(
    tx,
    sql`insert into subscriptions (stripe_subscription_id, user_id, stripe_customer_id, plan_id, status, current_period_end, cancel_at_period_end, stripe_created_at, version)
        values (${s.subscriptionId}, ${s.userId}, ${s.customerId}, ${s.planId}, ${s.status}, ${s.currentPeriodEnd}, ${s.cancelAtPeriodEnd}, ${s.createdAt}, ${s.version})
        on conflict (stripe_subscription_id) do update set
          stripe_customer_id = coalesce(excluded.stripe_customer_id, subscriptions.stripe_customer_id),
          plan_id = excluded.plan_id, status = excluded.status, current_period_end = excluded.current_period_end,
          cancel_at_period_end = excluded.cancel_at_period_end, version = excluded.version, updated_at = now()`,
  );
}

/** The plan last published for the user (FREE when none was). */
export async function publishedPlanOf(tx: Tx, userId: string): Promise<PlanId> {
  const found = await row(tx, z.object({ plan_id: z.enum(planIds) }), sql`select plan_id from user_plans where user_id = ${userId}`);
  return found?.plan_id ?? 'FREE';
}

export async function savePublishedPlan(tx: Tx, userId: string, planId: PlanId, changedAt: Date): Promise<void> {
  await exec(
    tx,
    sql`insert into user_plans (user_id, plan_id, changed_at) values (${userId}, ${planId}, ${changedAt})
        on conflict (user_id) do update set plan_id = excluded.plan_id, changed_at = excluded.changed_at`,
  );
}

// ---- Customers ----

export async function customerOf(db: Session, userId: string): Promise<string | undefined> {
  return (await row(db, CustomerId, sql`select stripe_customer_id from customers where user_id = ${userId}`))?.stripe_customer_id;
}

/** Keeps the first customer stored for the user. */
export async function insertCustomer(tx: Tx, userId: string, customerId: string): Promise<void> {
  await exec(tx, sql`insert into customers (user_id, stripe_customer_id) values (${userId}, ${customerId}) on conflict do nothing`);
}

export async function userOfCustomer(db: Session, customerId: string): Promise<string | undefined> {
  return (await row(db, UserId, sql`select user_id from customers where stripe_customer_id = ${customerId}`))?.user_id;
}

// ---- Payments ----

/** A page of the user's payments, newest first, before the `seq` cursor. */
export async function paymentsOf(db: Session, userId: string, before: string | null, limit: number): Promise<PaymentRow[]> {
  return rows(
    db,
    PaymentRow,
    sql`select * from payments where user_id = ${userId} ${before ? sql`and seq < ${before}` : sql``} order by seq desc limit ${limit}`,
  );
}

export async function paymentCountOf(db: Session, userId: string): Promise<number> {
  return (await row(db, z.object({ n: z.number() }), sql`select count(*)::int as n from payments where user_id = ${userId}`))?.n ?? 0;
}

export async function depositById(db: Session, depositId: string): Promise<PaymentRow | undefined> {
  return row(db, PaymentRow, sql`select * from payments where id = ${depositId} and kind = 'DEPOSIT'`);
}

/** The payment, locked for the rest of the transaction. */
export async function lockPayment(tx: Tx, paymentId: string): Promise<PaymentRow | undefined> {
  return row(tx, PaymentRow, sql`select * from payments where id = ${paymentId} for update`);
}

export async function lockDepositOfIntent(tx: Tx, intentId: string): Promise<PaymentRow | undefined> {
  return row(tx, PaymentRow, sql`select * from payments where stripe_payment_intent_id = ${intentId} and kind = 'DEPOSIT' for update`);
}

/** Whether another payment by `method` was funded by transaction `txHash`. */
export async function isTransactionUsed(db: Session, method: string, txHash: string, exceptId: string): Promise<boolean> {
  const used = await rows(
    db,
    z.object({ id: z.string() }),
    sql`select id from payments where method = ${method} and tx_hash = ${txHash} and id <> ${exceptId}`,
  );
  return used.length > 0;
}

export async function insertCardDeposit(tx: Tx, d: { id: string; userId: string; amountCents: number; intentId: string }): Promise<PaymentRow | undefined> {
  return row(
    tx,
    PaymentRow,
    sql`insert into payments (id, user_id, kind, method, status, amount_cents, stripe_payment_intent_id)
        values (${d.id}, ${d.userId}, 'DEPOSIT', 'CARD', 'PENDING', ${d.amountCents}, ${d.intentId}) returning *`,
  );
}

export async function insertCryptoDeposit(
  tx: Tx,
  d: { id: string; userId: string; method: string; amountCents: number; depositAddress: string; expectedBaseUnits: bigint },
): Promise<PaymentRow | undefined> {
  return row(
    tx,
    PaymentRow,
    sql`insert into payments (id, user_id, kind, method, status, amount_cents, deposit_address, expected_base_units)
        values (${d.id}, ${d.userId}, 'DEPOSIT', ${d.method}, 'PENDING', ${d.amountCents}, ${d.depositAddress}, ${d.expectedBaseUnits.toString()}) returning *`,
  );
}

/** Marks a crypto deposit funded by `txHash`; the unique constraint payments_tx_hash_key refuses a reused transaction. */
export async function markCryptoDepositSucceeded(tx: Tx, depositId: string, txHash: string, received: bigint): Promise<PaymentRow | undefined> {
  return row(
    tx,
    PaymentRow,
    sql`update payments set status = 'SUCCEEDED', tx_hash = ${txHash}, received_base_units = ${received.toString()}, succeeded_at = now() where id = ${depositId} returning *`,
  );
}

export async function markDepositSucceeded(tx: Tx, depositId: string): Promise<PaymentRow | undefined> {
  return row(tx, PaymentRow, sql`update payments set status = 'SUCCEEDED', succeeded_at = now() where id = ${depositId} returning *`);
}

export async function markIntentFailed(tx: Tx, intentId: string): Promise<void> {
  await exec(tx, sql`update payments set status = 'FAILED' where stripe_payment_intent_id = ${intentId} and status = 'PENDING'`);
}

/** Stores an invoice's payment; a paid invoice stays paid, whatever failure is delivered after it. */
export async function upsertInvoicePayment(
  tx: Tx,
  p: { id: string; userId: string; paid: boolean; amountCents: number; invoiceId: string | undefined; succeededAt: Date | null },
): Promise<void> {
  await exec(
    tx,
    sql`insert into payments (id, user_id, kind, method, status, amount_cents, stripe_invoice_id, succeeded_at)
        values (${p.id}, ${p.userId}, 'SUBSCRIPTION', 'CARD', ${p.paid ? 'SUCCEEDED' : 'FAILED'}, ${p.amountCents}, ${p.invoiceId ?? null}, ${p.succeededAt})
        on conflict (stripe_invoice_id) do update set status = excluded.status, amount_cents = excluded.amount_cents, succeeded_at = excluded.succeeded_at
        where payments.status <> 'SUCCEEDED'`,
  );
}

// ---- Stripe events ----

/** Records a Stripe event's id; false when it was recorded before (a redelivery). */
export async function recordStripeEvent(tx: Tx, event: { id: string; type: string; created: number }): Promise<boolean> {
  const inserted = await rows(
    tx,
    z.object({ event_id: z.string() }),
    sql`insert into stripe_events (event_id, type, created_at) values (${event.id}, ${event.type}, to_timestamp(${event.created})) on conflict do nothing returning event_id`,
  );
  return inserted.length > 0;
}

// ---- Projections: linked wallets, uploads ----

/** The user's linked wallets on `chain`, as stored (walletKey's spelling). */
export async function linkedWallets(db: Session, userId: string, chain: WalletChain): Promise<Set<string>> {
  const found = await rows(db, z.object({ address: z.string() }), sql`select address from linked_wallets where user_id = ${userId} and chain = ${chain}`);
  return new Set(found.map((r) => r.address));
}

/** Links the wallet unless it is linked already; answers who it is linked to. */
export async function linkWallet(tx: Tx, w: { chain: WalletChain; address: string; userId: string; linkedAt: string }): Promise<string | undefined> {
  await exec(
    tx,
    sql`insert into linked_wallets (chain, address, user_id, linked_at) values (${w.chain}, ${w.address}, ${w.userId}, ${w.linkedAt}) on conflict do nothing`,
  );
  return (await row(tx, UserId, sql`select user_id from linked_wallets where chain = ${w.chain} and address = ${w.address}`))?.user_id;
}

export async function recordUpload(tx: Tx, upload: { uploadId: string; userId: string; bytes: number; storedAt: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into uploads (upload_id, user_id, bytes, stored_at) values (${upload.uploadId}, ${upload.userId}, ${upload.bytes}, ${upload.storedAt}) on conflict do nothing`,
  );
}

/** Uploads this (UTC) month and bytes stored, for entitlements' "used". */
export async function usageOf(db: Session, userId: string): Promise<{ uploads: number; bytes: number }> {
  const found = await row(
    db,
    z.object({ uploads: z.number(), bytes: bigintText }),
    sql`select count(*) filter (where stored_at >= date_trunc('month', now() at time zone 'utc') at time zone 'utc')::int as uploads,
               coalesce(sum(bytes), 0)::text as bytes
        from uploads where user_id = ${userId}`,
  );
  return { uploads: found?.uploads ?? 0, bytes: Number(found?.bytes ?? 0) };
}
