import { randomUUID } from 'node:crypto';
import {
  badInput,
  conflict,
  decodeCursor,
  encodeCursor,
  forbidden,
  isUniqueViolation,
  isUuid,
  notFound,
  pageSize,
  PoisonEventError,
  recordEvent,
  requireAuth,
  type EntityManager,
  type Logger,
  type MikroORM,
  type Principal,
} from '@vibestream/platform';
import type { DepositChain } from './chains.ts';
import {
  creditableAmount,
  isCryptoMethod,
  isValidDepositAmount,
  MAX_DEPOSIT_CENTS,
  MIN_DEPOSIT_CENTS,
  normalizeEthereumTxHash,
  normalizeSolanaSignature,
  refusalOf,
  usdcBaseUnits,
  type CryptoMethod,
  type PaymentMethod,
} from './domain/deposits.ts';
import { chainOfMethod, walletKey, type WalletChain } from './domain/wallets.ts';
import { entitlementsOf, isPaidPlan, planById, type EntitlementKey, type PaidPlanId, type PlanDefinition, type PlanId, type PriceMap } from './domain/plans.ts';
import { currentSubscription, effectivePlan, isEntitled, mayReplace, statusAfterInvoice, statusFromStripe, type SubscriptionStatus } from './domain/subscriptions.ts';
import { DepositSucceeded, EntitlementsChanged, SubscriptionChanged } from './events.ts';
import { idOf, type Stripe } from './stripe.ts';

export const SOURCE = 'payments';

export interface PaymentRow {
  id: string;
  user_id: string;
  kind: 'DEPOSIT' | 'SUBSCRIPTION';
  method: PaymentMethod;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  amount_cents: string;
  stripe_payment_intent_id: string | null;
  deposit_address: string | null;
  expected_base_units: string | null;
  tx_hash: string | null;
  seq: string;
  created_at: Date | string;
}

/** A deposit as the API shows it; the client secret only in createDeposit's answer (it is not stored). */
export type DepositModel = PaymentRow & { client_secret?: string | null };

export interface SubscriptionRow {
  stripe_subscription_id: string;
  user_id: string;
  stripe_customer_id: string | null;
  plan_id: PaidPlanId;
  status: SubscriptionStatus;
  /** Timestamps arrive from raw SQL as strings. */
  current_period_end: Date | string | null;
  cancel_at_period_end: boolean;
  stripe_created_at: Date | string;
  version: string;
}

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

export interface PaymentsDeps {
  orm: MikroORM;
  stripe: Stripe | null;
  prices: PriceMap;
  chains: Partial<Record<CryptoMethod, DepositChain>>;
  urls: { checkoutSuccess: string; checkoutCancel: string; portalReturn: string };
  log: Logger;
  onEventsCommitted: () => void;
}

const isSeqCursor = (v: unknown): v is string => typeof v === 'string' && /^\d+$/.test(v);

/** payments' use cases; each change is one transaction with its events in the outbox. */
export class PaymentsService {
  private readonly deps: PaymentsDeps;

  constructor(deps: PaymentsDeps) {
    this.deps = deps;
  }

  private get log(): Logger {
    return this.deps.log;
  }

  private requireStripe(field?: string): Stripe {
    if (!this.deps.stripe) throw badInput('Card payments are not available on this server (Stripe is not configured)', field);
    return this.deps.stripe;
  }

  // ---- Reading ----

  async subscriptionsOf(em: EntityManager, userId: string): Promise<SubscriptionRow[]> {
    return (await em.execute('select * from subscriptions where user_id = ?', [userId])) as SubscriptionRow[];
  }

  /** The user's subscription; FREE (active, no period) when there is none or it ended. */
  async subscription(em: EntityManager, userId: string): Promise<SubscriptionModel> {
    const current = currentSubscription((await this.subscriptionsOf(em, userId)).map(asStored));
    if (!current || current.row.status === 'CANCELED') {
      return { status: 'ACTIVE', currentPeriodEnd: null, cancelAtPeriodEnd: false, plan: planById('FREE')! };
    }
    return {
      status: current.row.status,
      currentPeriodEnd: current.row.current_period_end ? new Date(current.row.current_period_end) : null,
      cancelAtPeriodEnd: current.row.cancel_at_period_end,
      plan: planById(current.row.plan_id)!,
    };
  }

  async entitlements(em: EntityManager, userId: string): Promise<EntitlementModel[]> {
    const plan = effectivePlan((await this.subscriptionsOf(em, userId)).map(asStored));
    const [usage] = (await em.execute(
      `select count(*) filter (where stored_at >= date_trunc('month', now() at time zone 'utc') at time zone 'utc')::int as uploads,
              coalesce(sum(bytes), 0)::text as bytes
       from uploads where user_id = ?`,
      [userId],
    )) as { uploads: number; bytes: string }[];
    const used: Partial<Record<EntitlementKey, number>> = { 'uploads.monthly': usage?.uploads ?? 0, 'storage.bytes': Number(usage?.bytes ?? 0) };
    return entitlementsOf(plan).map((e) => ({ ...e, used: used[e.key] ?? null }));
  }

  async payments(em: EntityManager, userId: string, first: number | null | undefined, after: string | null | undefined): Promise<Connection<PaymentRow>> {
    const size = pageSize(first);
    const cursor = decodeCursor(after, isSeqCursor);
    const rows = (await em.execute(
      `select * from payments where user_id = ? ${cursor ? 'and seq < ?' : ''} order by seq desc limit ?`,
      cursor ? [userId, cursor, size + 1] : [userId, size + 1],
    )) as PaymentRow[];
    const [count] = (await em.execute('select count(*)::int as n from payments where user_id = ?', [userId])) as { n: number }[];
    const edges = rows.slice(0, size).map((node) => ({ cursor: encodeCursor(String(node.seq)), node }));
    return { totalCount: count?.n ?? 0, edges, pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  // ---- Stripe: checkout and portal ----

  /** The user's Stripe customer, created once (the idempotency key makes concurrent first calls create one). */
  private async customerOf(em: EntityManager, userId: string): Promise<string> {
    const stripe = this.requireStripe();
    const [known] = (await em.execute('select stripe_customer_id from customers where user_id = ?', [userId])) as { stripe_customer_id: string }[];
    if (known) return known.stripe_customer_id;
    const customer = await stripe.customers.create({ metadata: { userId } }, { idempotencyKey: `customer-${userId}` });
    await em.execute('insert into customers (user_id, stripe_customer_id) values (?, ?) on conflict (user_id) do nothing', [userId, customer.id]);
    const [stored] = (await em.execute('select stripe_customer_id from customers where user_id = ?', [userId])) as { stripe_customer_id: string }[];
    return stored!.stripe_customer_id;
  }

  async startCheckout(em: EntityManager, principal: Principal | null, planId: string): Promise<{ checkoutUrl: string }> {
    const { userId } = requireAuth(principal);
    if (!isPaidPlan(planId)) throw badInput('planId must be one of CREATOR, PRO or STUDIO', 'planId');
    const stripe = this.requireStripe('planId');
    const price = this.deps.prices.priceOf(planId);
    if (!price) throw badInput(`The ${planId} plan cannot be bought on this server (no Stripe price configured)`, 'planId');
    const current = currentSubscription((await this.subscriptionsOf(em, userId)).map(asStored));
    if (current && isEntitled(current.row.status)) {
      throw conflict(`You already have the ${current.row.plan_id} plan; change or cancel it in the billing portal`);
    }
    const customer = await this.customerOf(em, userId);
    const session = await stripe.checkout.sessions.create(
      {
        mode: 'subscription',
        customer,
        client_reference_id: userId,
        line_items: [{ price, quantity: 1 }],
        success_url: this.deps.urls.checkoutSuccess,
        cancel_url: this.deps.urls.checkoutCancel,
        metadata: { userId, planId },
        subscription_data: { metadata: { userId, planId } },
      },
      { idempotencyKey: `checkout-${randomUUID()}` },
    );
    if (!session.url) throw new Error('Stripe returned a Checkout Session without a url');
    return { checkoutUrl: session.url };
  }

  async openPortal(em: EntityManager, principal: Principal | null): Promise<{ url: string }> {
    const { userId } = requireAuth(principal);
    const stripe = this.requireStripe();
    const customer = await this.customerOf(em, userId);
    const session = await stripe.billingPortal.sessions.create(
      { customer, return_url: this.deps.urls.portalReturn },
      { idempotencyKey: `portal-${randomUUID()}` },
    );
    return { url: session.url };
  }

  // ---- Deposits ----

  async createDeposit(em: EntityManager, principal: Principal | null, amountCents: number, method: PaymentMethod): Promise<DepositModel> {
    const { userId } = requireAuth(principal);
    if (!isValidDepositAmount(amountCents)) throw badInput(`amountCents must be a whole number between ${MIN_DEPOSIT_CENTS} and ${MAX_DEPOSIT_CENTS}`, 'amountCents');
    const id = randomUUID();
    if (!isCryptoMethod(method)) {
      const stripe = this.requireStripe('method');
      const customer = await this.customerOf(em, userId);
      const intent = await stripe.paymentIntents.create(
        {
          amount: amountCents,
          currency: 'usd',
          customer,
          description: 'VibeStream trading account deposit',
          metadata: { depositId: id, userId },
          automatic_payment_methods: { enabled: true },
        },
        { idempotencyKey: `deposit-${id}` },
      );
      const [row] = (await em.execute(
        `insert into payments (id, user_id, kind, method, status, amount_cents, stripe_payment_intent_id)
         values (?, ?, 'DEPOSIT', 'CARD', 'PENDING', ?, ?) returning *`,
        [id, userId, amountCents, intent.id],
      )) as PaymentRow[];
      return { ...row!, client_secret: intent.client_secret };
    }
    const chain = this.deps.chains[method];
    if (!chain) throw badInput(`${method} deposits are not available on this server (the chain is not configured)`, 'method');
    // Only a transfer from one of the user's linked wallets can fund the deposit: without one,
    // USDC sent to the shared address could never be credited to them.
    const walletChain = chainOfMethod(method);
    if ((await this.linkedWallets(em, userId, walletChain)).size === 0) {
      throw badInput(`${method} deposits are funded from a wallet linked to your account: link your ${chainName(walletChain)} wallet first`, 'method');
    }
    const [row] = (await em.execute(
      `insert into payments (id, user_id, kind, method, status, amount_cents, deposit_address, expected_base_units)
       values (?, ?, 'DEPOSIT', ?, 'PENDING', ?, ?, ?) returning *`,
      [id, userId, method, amountCents, chain.depositAddress, usdcBaseUnits(amountCents).toString()],
    )) as PaymentRow[];
    return row!;
  }

  async confirmCryptoDeposit(em: EntityManager, principal: Principal | null, depositId: string, txHash: string): Promise<DepositModel> {
    const { userId } = requireAuth(principal);
    const deposit = await this.depositRow(em, depositId);
    if (deposit.user_id !== userId) throw forbidden('Only its owner may confirm this deposit');
    if (!isCryptoMethod(deposit.method)) throw badInput('A card deposit is confirmed by Stripe, not with a transaction', 'depositId');
    const hash = deposit.method === 'USDC_ETHEREUM' ? normalizeEthereumTxHash(txHash) : normalizeSolanaSignature(txHash);
    if (!hash) throw badInput(deposit.method === 'USDC_ETHEREUM' ? 'txHash is not an Ethereum transaction hash' : 'txHash is not a Solana transaction signature', 'txHash');
    if (deposit.status === 'SUCCEEDED') {
      if (deposit.tx_hash === hash) return deposit;
      throw conflict('This deposit is already funded by another transaction');
    }
    await this.refuseReusedTransaction(em, deposit, hash);

    const chain = this.deps.chains[deposit.method];
    if (!chain) throw badInput(`${deposit.method} deposits are not available on this server (the chain is not configured)`, 'depositId');
    const check = await chain.check(hash);
    // The shared deposit address tells no payer from another: the transfer counts for this
    // deposit only when it comes from a wallet its owner proved control of (else anyone could
    // claim a transfer seen on the public chain).
    const linked = await this.linkedWallets(em, deposit.user_id, chainOfMethod(deposit.method));
    const refusal = refusalOf(check, BigInt(deposit.expected_base_units!), linked);
    if (refusal) throw badInput(refusal, 'txHash');
    const received = check.kind === 'received' ? creditableAmount(check, linked) : 0n;

    const confirmed = await em.fork().transactional(async (tx) => {
      const [locked] = (await tx.execute('select * from payments where id = ? for update', [deposit.id])) as PaymentRow[];
      if (locked!.status === 'SUCCEEDED') {
        if (locked!.tx_hash === hash) return { row: locked!, fresh: false };
        throw conflict('This deposit is already funded by another transaction');
      }
      let row: PaymentRow;
      try {
        [row] = (await tx.execute(
          `update payments set status = 'SUCCEEDED', tx_hash = ?, received_base_units = ?, succeeded_at = now() where id = ? returning *`,
          [hash, received.toString(), deposit.id],
        )) as [PaymentRow];
      } catch (error) {
        if (isUniqueViolation(error, 'payments_tx_hash_key')) throw conflict('This transaction already funded another deposit');
        throw error;
      }
      this.recordDepositSucceeded(tx, row);
      return { row, fresh: true };
    });
    if (confirmed.fresh) this.deps.onEventsCommitted();
    return confirmed.row;
  }

  /** The user's linked wallets on `chain`, spelled by walletKey. */
  private async linkedWallets(em: EntityManager, userId: string, chain: WalletChain): Promise<Set<string>> {
    const rows = (await em.execute('select address from linked_wallets where user_id = ? and chain = ?', [userId, chain])) as { address: string }[];
    return new Set(rows.map((r) => r.address));
  }

  private async depositRow(em: EntityManager, depositId: string): Promise<PaymentRow> {
    const [row] = isUuid(depositId) ? ((await em.execute(`select * from payments where id = ? and kind = 'DEPOSIT'`, [depositId])) as PaymentRow[]) : [];
    if (!row) throw notFound('Deposit');
    return row;
  }

  private async refuseReusedTransaction(em: EntityManager, deposit: PaymentRow, hash: string): Promise<void> {
    const used = (await em.execute('select id from payments where method = ? and tx_hash = ? and id <> ?', [deposit.method, hash, deposit.id])) as unknown[];
    if (used.length > 0) throw conflict('This transaction already funded another deposit');
  }

  private recordDepositSucceeded(tx: EntityManager, row: PaymentRow): void {
    recordEvent(tx, SOURCE, DepositSucceeded, {
      depositId: row.id,
      userId: row.user_id,
      amountCents: Number(row.amount_cents),
      method: row.method,
      succeededAt: new Date().toISOString(),
    });
  }

  // ---- Stripe webhooks ----

  /**
   * Applies one verified Stripe event. The event id is recorded in the transaction of its
   * effects, so a redelivery changes nothing; answers whether it took effect now.
   */
  async applyStripeEvent(event: Stripe.Event): Promise<boolean> {
    let published = false;
    const applied = await this.deps.orm.em.fork().transactional(async (tx) => {
      const inserted = (await tx.execute(
        'insert into stripe_events (event_id, type, created_at) values (?, ?, to_timestamp(?)) on conflict do nothing returning event_id',
        [event.id, event.type, event.created],
      )) as unknown[];
      if (inserted.length === 0) return false;
      published = await this.applyEffects(tx, event);
      return true;
    });
    if (published) this.deps.onEventsCommitted();
    return applied;
  }

  /** The event's effects; answers whether it wrote events to the outbox. */
  private async applyEffects(tx: EntityManager, event: Stripe.Event): Promise<boolean> {
    switch (event.type) {
      case 'checkout.session.completed':
        return this.onCheckoutCompleted(tx, event.data.object, event.created);
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted':
        return this.onSubscriptionEvent(tx, event.data.object, event.created, event.type === 'customer.subscription.deleted');
      case 'invoice.paid':
        return this.onInvoice(tx, event.data.object, 'paid', event.created);
      case 'invoice.payment_failed':
        return this.onInvoice(tx, event.data.object, 'payment_failed', event.created);
      case 'payment_intent.succeeded':
        return this.onPaymentIntentSucceeded(tx, event.data.object);
      case 'payment_intent.payment_failed':
        await tx.execute(`update payments set status = 'FAILED' where stripe_payment_intent_id = ? and status = 'PENDING'`, [event.data.object.id]);
        return false;
      default:
        this.log.debug({ type: event.type, eventId: event.id }, 'Stripe event type not handled');
        return false;
    }
  }

  private async onCheckoutCompleted(tx: EntityManager, session: Stripe.Checkout.Session, version: number): Promise<boolean> {
    if (session.mode !== 'subscription') return false;
    const userId = [session.client_reference_id, session.metadata?.userId].find((v): v is string => typeof v === 'string' && isUuid(v));
    const subscriptionId = idOf(session.subscription);
    const planId = session.metadata?.planId;
    if (!userId || !subscriptionId || !planId || !isPaidPlan(planId)) {
      this.log.warn({ sessionId: session.id }, 'checkout.session.completed without a user, subscription or plan of ours; ignored');
      return false;
    }
    const customerId = idOf(session.customer);
    if (customerId) await tx.execute('insert into customers (user_id, stripe_customer_id) values (?, ?) on conflict do nothing', [userId, customerId]);
    const status: SubscriptionStatus = session.payment_status === 'paid' ? 'ACTIVE' : session.payment_status === 'no_payment_required' ? 'TRIALING' : 'INCOMPLETE';
    return this.storeSubscription(
      tx,
      { subscriptionId, userId, customerId, planId, status, currentPeriodEnd: null, cancelAtPeriodEnd: null, createdAt: new Date(session.created * 1000) },
      version,
    );
  }

  private async onSubscriptionEvent(tx: EntityManager, sub: Stripe.Subscription, version: number, deleted: boolean): Promise<boolean> {
    const customerId = idOf(sub.customer);
    const userId = await this.userOf(tx, sub.metadata?.userId, customerId);
    const item = sub.items?.data?.[0];
    const planId = this.deps.prices.planOf(item?.price?.id) ?? (isPaidPlan(sub.metadata?.planId ?? '') ? (sub.metadata.planId as PaidPlanId) : undefined);
    if (!userId || !planId) {
      this.log.warn({ subscriptionId: sub.id }, 'subscription event for an unknown user or price; ignored');
      return false;
    }
    const periodEnd = item?.current_period_end ?? (sub as unknown as { current_period_end?: number }).current_period_end;
    return this.storeSubscription(
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

  private async onInvoice(tx: EntityManager, invoice: Stripe.Invoice, outcome: 'paid' | 'payment_failed', version: number): Promise<boolean> {
    const subscriptionId =
      idOf(invoice.parent?.subscription_details?.subscription) ?? idOf((invoice as unknown as { subscription?: string | { id: string } }).subscription);
    const [sub] = subscriptionId
      ? ((await tx.execute('select * from subscriptions where stripe_subscription_id = ?', [subscriptionId])) as SubscriptionRow[])
      : [];
    const userId = sub?.user_id ?? (await this.userOf(tx, undefined, idOf(invoice.customer)));
    if (!userId) {
      this.log.warn({ invoiceId: invoice.id }, 'invoice for an unknown customer; ignored');
      return false;
    }
    const paid = outcome === 'paid';
    // A paid invoice stays paid, whatever failure is delivered after it.
    await tx.execute(
      `insert into payments (id, user_id, kind, method, status, amount_cents, stripe_invoice_id, succeeded_at)
       values (?, ?, 'SUBSCRIPTION', 'CARD', ?, ?, ?, ?)
       on conflict (stripe_invoice_id) do update set status = excluded.status, amount_cents = excluded.amount_cents, succeeded_at = excluded.succeeded_at
       where payments.status <> 'SUCCEEDED'`,
      [randomUUID(), userId, paid ? 'SUCCEEDED' : 'FAILED', paid ? invoice.amount_paid : invoice.amount_due, invoice.id, paid ? new Date() : null],
    );
    if (!sub) return false;
    const next = statusAfterInvoice(sub.status, outcome);
    if (!next) return false;
    return this.storeSubscription(
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

  private async onPaymentIntentSucceeded(tx: EntityManager, intent: Stripe.PaymentIntent): Promise<boolean> {
    const [deposit] = (await tx.execute(`select * from payments where stripe_payment_intent_id = ? and kind = 'DEPOSIT' for update`, [intent.id])) as PaymentRow[];
    if (!deposit) return false;
    if (deposit.status === 'SUCCEEDED') return false;
    if (intent.currency !== 'usd' || intent.amount_received !== Number(deposit.amount_cents)) {
      this.log.error({ depositId: deposit.id, intentId: intent.id }, 'PaymentIntent amount or currency differs from the deposit; not credited');
      return false;
    }
    // Success is final: it also overrides an earlier failed attempt of the same intent.
    const [row] = (await tx.execute(`update payments set status = 'SUCCEEDED', succeeded_at = now() where id = ? returning *`, [deposit.id])) as PaymentRow[];
    this.recordDepositSucceeded(tx, row!);
    return true;
  }

  private async userOf(tx: EntityManager, metadataUserId: string | undefined, customerId: string | null): Promise<string | null> {
    if (metadataUserId && isUuid(metadataUserId)) return metadataUserId;
    if (!customerId) return null;
    const [row] = (await tx.execute('select user_id from customers where stripe_customer_id = ?', [customerId])) as { user_id: string }[];
    return row?.user_id ?? null;
  }

  /**
   * Stores a subscription's new state unless the stored one is newer, publishes
   * payments.subscription.changed.v1 when it changed and billing.entitlements.changed.v1 when
   * the user's plan did. Runs under the user's lock, so concurrent events of one user serialize.
   */
  private async storeSubscription(tx: EntityManager, view: SubscriptionView, version: number): Promise<boolean> {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`payments:user:${view.userId}`]);
    const [stored] = (await tx.execute('select * from subscriptions where stripe_subscription_id = ? for update', [view.subscriptionId])) as SubscriptionRow[];
    if (!mayReplace(stored ? { version: Number(stored.version), status: stored.status } : null, { version, status: view.status })) return false;
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
    await tx.execute(
      `insert into subscriptions (stripe_subscription_id, user_id, stripe_customer_id, plan_id, status, current_period_end, cancel_at_period_end, stripe_created_at, version)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (stripe_subscription_id) do update set
         stripe_customer_id = coalesce(excluded.stripe_customer_id, subscriptions.stripe_customer_id),
         plan_id = excluded.plan_id, status = excluded.status, current_period_end = excluded.current_period_end,
         cancel_at_period_end = excluded.cancel_at_period_end, version = excluded.version, updated_at = now()`,
      [view.subscriptionId, view.userId, view.customerId, next.planId, next.status, next.currentPeriodEnd, next.cancelAtPeriodEnd, view.createdAt, version],
    );
    if (!changed) return false;
    recordEvent(tx, SOURCE, SubscriptionChanged, {
      userId: view.userId,
      planId: next.planId,
      previousPlanId: stored ? stored.plan_id : null,
      status: next.status,
      cancelAtPeriodEnd: next.cancelAtPeriodEnd,
      currentPeriodEnd: next.currentPeriodEnd ? next.currentPeriodEnd.toISOString() : null,
      changedAt: new Date().toISOString(),
    });
    await this.syncEntitlements(tx, view.userId);
    return true;
  }

  /** Publishes the user's entitlements when their effective plan differs from the one last published. */
  private async syncEntitlements(tx: EntityManager, userId: string): Promise<void> {
    const plan: PlanId = effectivePlan((await this.subscriptionsOf(tx, userId)).map(asStored));
    const [published] = (await tx.execute('select plan_id from user_plans where user_id = ?', [userId])) as { plan_id: PlanId }[];
    if ((published?.plan_id ?? 'FREE') === plan) return;
    const changedAt = new Date();
    await tx.execute(
      `insert into user_plans (user_id, plan_id, changed_at) values (?, ?, ?)
       on conflict (user_id) do update set plan_id = excluded.plan_id, changed_at = excluded.changed_at`,
      [userId, plan, changedAt],
    );
    recordEvent(tx, SOURCE, EntitlementsChanged, { userId, planId: plan, entitlements: entitlementsOf(plan), changedAt: changedAt.toISOString() });
  }

  // ---- Linked wallets (identity.wallet.linked.v1) ----

  static async recordLinkedWallet(tx: EntityManager, wallet: { userId: string; chain: WalletChain; address: string }, linkedAt: string): Promise<void> {
    const address = walletKey(wallet.chain, wallet.address);
    if (!address) throw new PoisonEventError(`identity.wallet.linked.v1 with a malformed ${wallet.chain} address: ${wallet.address}`);
    await tx.execute('insert into linked_wallets (chain, address, user_id, linked_at) values (?, ?, ?, ?) on conflict do nothing', [
      wallet.chain,
      address,
      wallet.userId,
      linkedAt,
    ]);
    const [owner] = (await tx.execute('select user_id from linked_wallets where chain = ? and address = ?', [wallet.chain, address])) as { user_id: string }[];
    // identity links a wallet to one account; a second owner would hand one user's transfers to another.
    if (owner!.user_id !== wallet.userId) throw new PoisonEventError(`${wallet.chain} wallet ${address} is already linked to another user`);
  }

  // ---- Usage (catalog.upload.stored.v1) ----

  static async recordUpload(tx: EntityManager, upload: { uploadId: string; userId: string; bytes: number; storedAt: string }): Promise<void> {
    await tx.execute('insert into uploads (upload_id, user_id, bytes, stored_at) values (?, ?, ?, ?) on conflict do nothing', [
      upload.uploadId,
      upload.userId,
      upload.bytes,
      upload.storedAt,
    ]);
  }
}

function chainName(chain: WalletChain): string {
  return chain === 'ETHEREUM' ? 'Ethereum' : 'Solana';
}

function asStored(row: SubscriptionRow) {
  return { planId: row.plan_id, status: row.status, createdAt: new Date(row.stripe_created_at), row };
}

