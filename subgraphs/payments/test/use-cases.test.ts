// payments' use cases on payments' own schema, with other contexts' events injected (catalog's
// uploads, identity's linked wallets): no gateway, no other context booted. The service is called as
// the resolvers and the webhook route call it, with a Principal or a verified Stripe event; Stripe is
// the local stand-in, the chains an in-process EVM and SVM. What crosses contexts or needs HTTP
// (sign-up and wallet linking through identity, webhook signatures, ownership crediting a deposit,
// the User entity's privacy) is payments.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { Transaction, Wallet, type Contract } from 'ethers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLiveEvents, ProjectionWaits, type Principal } from '@vibestream/platform';
import { compileSolidity, deployContract, openContext, startTestChain, type ContextHarness, type TestChain } from '@vibestream/testkit';
import { UploadStored } from '@vibestream/contracts/catalog';
import { WalletLinked } from '@vibestream/contracts/identity';
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from '@solana/spl-token';
import { EthereumUsdc, SolanaUsdc } from '../src/chains.ts';
import { PriceMap } from '../src/domain/plans.ts';
import { paymentsHandlers } from '../src/handlers.ts';
import { StripeApiStandIn, stripeEvent } from '../src/local-stripe.ts';
import { migrations } from '../src/migrations.ts';
import { PaymentsService, type DepositModel, type PaymentRow } from '../src/service.ts';
import { createStripeClient, type Stripe } from '../src/stripe.ts';
import { PRICES, SECRET_KEY, checkoutCompleted, invoiceObject, paymentIntentObject, subscriptionObject } from './helpers.ts';
import { Keypair, LocalSolana } from './solana-chain.ts';

const BATCH_SOURCE = `
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
/// Moves several holders' tokens (each approved this contract) to one recipient in one transaction.
contract BatchPay {
  function pay(IERC20 token, address[] calldata holders, uint256[] calldata amounts, address to) external {
    for (uint256 i = 0; i < holders.length; i++) require(token.transferFrom(holders[i], to, amounts[i]), "transfer failed");
  }
}`;

const USDC_SOURCE = `
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
import "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract TestUSDC is ERC20 {
  constructor() ERC20("Test USD Coin", "USDC") { _mint(msg.sender, 1000000 * 10 ** 6); }
  function decimals() public pure override returns (uint8) { return 6; }
}`;

const PUBLIC_URL = 'http://localhost:4000';

let h: ContextHarness;
let db: pg.Client;
/** As app.ts builds it with Stripe, prices and both chains configured. */
let service: PaymentsService;
/** Nothing configured: no Stripe key, no chains. */
let bare: PaymentsService;
let stripeApi: StripeApiStandIn;
let chain: TestChain;
let usdc: Contract;
let solana: LocalSolana;
let solanaMint: Keypair['publicKey'];
const chains: { close(): void }[] = [];
const ethDeposit = Wallet.createRandom().address;
const solanaOwner = Keypair.generate().publicKey;

beforeAll(async () => {
  h = await openContext({ name: 'payments', migrations });
  h.consume(paymentsHandlers(h.db));
  db = new pg.Client({ connectionString: h.database.url });
  await db.connect();
  stripeApi = new StripeApiStandIn(SECRET_KEY);
  await stripeApi.start();
  chain = await startTestChain();
  const deployer = new Wallet(chain.accounts[0]!, chain.provider);
  usdc = await deployContract(deployer, await compileSolidity({ 'TestUSDC.sol': USDC_SOURCE }, 'TestUSDC'));
  solana = new LocalSolana();
  await solana.start();
  solanaMint = solana.createMint(6);
  const ethereum = new EthereumUsdc({ rpcUrl: chain.url, token: await usdc.getAddress(), depositAddress: ethDeposit, confirmations: 3 });
  const sol = new SolanaUsdc({ rpcUrl: solana.url, mint: solanaMint.toBase58(), depositOwner: solanaOwner.toBase58() });
  chains.push(ethereum, sol);
  // Wallets are injected and handled before they are used: nothing to wait for.
  const projections = new ProjectionWaits({ group: 'payments', timeoutMs: 0, live: new MemoryLiveEvents(), log: h.log });
  service = new PaymentsService({
    db: h.db,
    stripe: createStripeClient({ STRIPE_SECRET_KEY: SECRET_KEY, STRIPE_API_URL: stripeApi.url }),
    prices: new PriceMap(PRICES),
    chains: { USDC_ETHEREUM: ethereum, USDC_SOLANA: sol },
    urls: {
      checkoutSuccess: `${PUBLIC_URL}/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      checkoutCancel: `${PUBLIC_URL}/billing`,
      portalReturn: `${PUBLIC_URL}/billing`,
    },
    log: h.log,
    projections,
  });
  bare = new PaymentsService({
    db: h.db,
    stripe: null,
    prices: new PriceMap({ PRO: 'price_pro' }),
    chains: {},
    urls: { checkoutSuccess: 'http://x/s', checkoutCancel: 'http://x/c', portalReturn: 'http://x/p' },
    log: h.log,
    projections,
  });
}, 180_000);

afterAll(async () => {
  for (const c of chains) c.close();
  await db?.end();
  await h?.close();
  await chain?.close();
  await solana?.stop();
  await stripeApi?.stop();
});

const principal = (userId: string): Principal => ({ userId, roles: ['FAN'], sessionId: 's', expiresAt: Date.now() / 1000 + 300 });
const newUser = () => principal(randomUUID());

/** A refusal as the API answers it: its code, field and message; null when the use case succeeded. */
async function refusal(promise: Promise<unknown>) {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { extensions?: { code?: string; field?: string }; message: string } | null;
  return error && { code: error.extensions?.code, field: error.extensions?.field, message: error.message };
}
const codeOf = async (promise: Promise<unknown>) => (await refusal(promise))?.code;

/** A Stripe event as the webhook route hands it over once its signature verified. */
const apply = (event: Record<string, unknown>, to = service) => to.applyStripeEvent(JSON.parse(JSON.stringify(event)) as Stripe.Event);

const bigIntOrNull = (value: number | null) => (value === null ? null : String(value));
/** The user's subscription and entitlements as `me { subscription { … } entitlements { … } }` selects them. */
async function mySubscription(userId: string) {
  const subscription = await service.subscription(userId);
  const entitlements = await service.entitlements(userId);
  return {
    subscription: {
      status: subscription.status,
      currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
      cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
      plan: { id: subscription.plan.id, name: subscription.plan.name },
    },
    entitlements: entitlements.map((e) => ({ key: e.key, limit: bigIntOrNull(e.limit), used: bigIntOrNull(e.used) })),
  };
}
type MySubscription = Awaited<ReturnType<typeof mySubscription>>;
const limitOf = (me: MySubscription, key: string) => me.entitlements.find((e) => e.key === key);

/** A deposit or payment as the API shows it. */
const depositView = (d: DepositModel) => ({
  id: d.id,
  status: d.status,
  method: d.method,
  amountCents: Number(d.amount_cents),
  clientSecret: d.client_secret ?? null,
  depositAddress: d.deposit_address,
  expectedBaseUnits: d.expected_base_units,
});
const paymentView = (p: PaymentRow) => ({ id: p.id, kind: p.kind, method: p.method, status: p.status, amountCents: Number(p.amount_cents) });
const confirmedView = (d: DepositModel) => ({ id: d.id, status: d.status, txHash: d.tx_hash });

const outbox = async (type: string, userId: string) =>
  (await db.query(`select payload from payments.outbox_events where type = $1 and payload->>'userId' = $2 order by occurred_at`, [type, userId])).rows.map(
    (r: { payload: Record<string, unknown> }) => r.payload,
  );
const depositRow = async (id: string) =>
  (await db.query('select status, tx_hash, received_base_units from payments.payments where id = $1', [id])).rows[0] as {
    status: string;
    tx_hash: string | null;
    received_base_units: string | null;
  };
const state = async () =>
  (
    await db.query(
      `select (select count(*) from payments.stripe_events)::int as events, (select count(*) from payments.subscriptions)::int as subscriptions,
              (select count(*) from payments.outbox_events)::int as outbox, (select count(*) from payments.payments)::int as payments`,
    )
  ).rows[0] as Record<string, number>;

/** identity.wallet.linked.v1 for the wallet, as identity publishes it once the user proved control; handled once inject returns. */
async function linkWallet(who: Principal, walletChain: 'ETHEREUM' | 'SOLANA', address: string): Promise<void> {
  await h.inject(WalletLinked, { userId: who.userId, chain: walletChain, address });
}

/** catalog.upload.stored.v1 as catalog publishes it. */
async function uploadStored(userId: string, bytes: number, storedAt = new Date()) {
  await h.inject(UploadStored, { uploadId: randomUUID(), userId, songId: randomUUID(), bytes, storedAt: storedAt.toISOString() });
}

/**
 * Confirming each transaction (with the wallet it came from) into the pending deposit is refused
 * as not coming from the caller's linked wallets, naming the sender, and writes nothing.
 */
async function expectRefusedAsUnlinked(who: Principal, depositId: string, transactions: [txHash: string, sender: string][]) {
  const before = await state();
  for (const [txHash, sender] of transactions) {
    const refused = await refusal(service.confirmCryptoDeposit(who, depositId, txHash));
    expect(refused?.code).toBe('BAD_USER_INPUT');
    expect(refused?.field).toBe('txHash');
    expect(refused?.message).toMatch(/^The transfer must come from a wallet linked to your account/);
    expect(refused?.message).toContain(sender);
  }
  expect(await state()).toEqual(before);
  expect(await depositRow(depositId)).toEqual({ status: 'PENDING', tx_hash: null, received_base_units: null });
}

describe("payments' use cases on their own schema", () => {
  it('a checkout webhook is one use case: subscription, entitlements and both events commit together, once', async () => {
    const userId = randomUUID();
    const completed = stripeEvent(
      'checkout.session.completed',
      {
        id: 'cs_1',
        mode: 'subscription',
        client_reference_id: userId,
        subscription: `sub_${userId}`,
        customer: `cus_${userId}`,
        payment_status: 'paid',
        created: 1_800_000_000,
        metadata: { userId, planId: 'PRO' },
      },
      1_800_000_001,
    );
    const types = async () => (await h.recorded()).filter((e) => e.payload.userId === userId).map((e) => e.type);
    const before = h.relayWakes();
    expect(await apply(completed, bare)).toBe(true);
    expect(h.relayWakes()).toBe(before + 1);
    expect(await types()).toEqual(['payments.subscription.changed.v1', 'billing.entitlements.changed.v1']);
    expect((await bare.subscription(userId)).plan.id).toBe('PRO');

    // Redelivered: nothing changes, nothing is recorded, the relay is not woken.
    expect(await apply(completed, bare)).toBe(false);
    expect(await types()).toHaveLength(2);
    expect(h.relayWakes()).toBe(before + 1);
  });

  it('a USDC deposit on a chain this server does not configure is refused before any row is written', async () => {
    const userId = randomUUID();
    const refused = await bare.createDeposit(principal(userId), 1000, 'USDC_ETHEREUM').catch((e: unknown) => e);
    expect(refused).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'method' } });
    expect((await bare.payments(userId, 10, null)).totalCount).toBe(0);
  });
});

describe('subscriptions through Stripe', () => {
  it('checkout, webhooks in and out of order, failed and paid invoices, cancellation', async () => {
    const fan = newUser();
    // FREE before anything, with usage counted from catalog's uploads (this month only).
    await uploadStored(fan.userId, 1000);
    await uploadStored(fan.userId, 2500);
    await uploadStored(fan.userId, 700, new Date(Date.UTC(2020, 0, 15)));
    const free = await mySubscription(fan.userId);
    expect(free.subscription).toEqual({ status: 'ACTIVE', currentPeriodEnd: null, cancelAtPeriodEnd: false, plan: { id: 'FREE', name: 'Free' } });
    expect(free.entitlements).toEqual([
      { key: 'uploads.monthly', limit: '3', used: '2' },
      { key: 'storage.bytes', limit: String(1024 ** 3), used: '4200' },
      { key: 'stream.maxBitrateKbps', limit: '128', used: null },
      { key: 'analytics', limit: '0', used: null },
    ]);

    // Checkout: one customer for the user, then a subscription-mode session per request.
    expect(await codeOf(service.startCheckout(null, 'PRO'))).toBe('UNAUTHENTICATED');
    expect(await codeOf(service.startCheckout(fan, 'FREE'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.startCheckout(fan, 'GOLD'))).toBe('BAD_USER_INPUT');
    const first = await service.startCheckout(fan, 'PRO');
    expect(first.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_\d+$/);
    await service.startCheckout(fan, 'PRO');
    const customers = stripeApi.to('/v1/customers').filter((r) => r.params['metadata[userId]'] === fan.userId);
    expect(customers).toHaveLength(1);
    expect(customers[0]!.idempotencyKey).toBe(`customer-${fan.userId}`);
    const sessions = stripeApi.to('/v1/checkout/sessions').filter((r) => r.params.client_reference_id === fan.userId);
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.params).toMatchObject({
      mode: 'subscription',
      customer: 'cus_test_1',
      client_reference_id: fan.userId,
      'line_items[0][price]': PRICES.PRO,
      'line_items[0][quantity]': '1',
      'metadata[planId]': 'PRO',
      'subscription_data[metadata][userId]': fan.userId,
    });
    expect(sessions[0]!.params.success_url).toContain('{CHECKOUT_SESSION_ID}');
    expect(sessions[0]!.idempotencyKey).toMatch(/^checkout-[0-9a-f-]{36}$/);
    expect(sessions[1]!.idempotencyKey).not.toBe(sessions[0]!.idempotencyKey);

    const portal = await service.openPortal(fan);
    expect(portal.url).toMatch(/^https:\/\/billing\.stripe\.test\/p\/session\//);
    const portalRequest = stripeApi.to('/v1/billing_portal/sessions').at(-1)!;
    expect(portalRequest.params).toMatchObject({ customer: 'cus_test_1' });
    expect(portalRequest.idempotencyKey).toMatch(/^portal-/);

    // checkout.session.completed activates PRO and raises the limits; entitlements are published.
    const t = Math.floor(Date.now() / 1000);
    const subId = `sub_${fan.userId.slice(0, 8)}`;
    await apply(stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'PRO', subId, 'cus_test_1'), t));
    let me = await mySubscription(fan.userId);
    expect(me.subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'PRO', name: 'Pro' } });
    expect(limitOf(me, 'uploads.monthly')).toEqual({ key: 'uploads.monthly', limit: '200', used: '2' });
    expect(limitOf(me, 'analytics')?.limit).toBeNull();
    const published = await outbox('billing.entitlements.changed.v1', fan.userId);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ planId: 'PRO', entitlements: expect.arrayContaining([{ key: 'storage.bytes', limit: 100 * 1024 ** 3 }]) });
    expect(await outbox('payments.subscription.changed.v1', fan.userId)).toEqual([
      expect.objectContaining({ planId: 'PRO', previousPlanId: null, status: 'ACTIVE' }),
    ]);
    expect(await codeOf(service.startCheckout(fan, 'STUDIO'))).toBe('CONFLICT');

    // A newer subscription update sets the period and the cancellation flag.
    const periodEnd = t + 30 * 86400;
    const update = (created: number, overrides: Partial<Parameters<typeof subscriptionObject>[0]> = {}) =>
      stripeEvent(
        'customer.subscription.updated',
        subscriptionObject({ id: subId, customer: 'cus_test_1', price: PRICES.PRO, status: 'active', periodEnd, ...overrides }),
        created,
      );
    await apply(update(t + 10, { cancelAtPeriodEnd: true }));
    me = await mySubscription(fan.userId);
    expect(me.subscription).toEqual({
      status: 'ACTIVE',
      currentPeriodEnd: new Date(periodEnd * 1000).toISOString(),
      cancelAtPeriodEnd: true,
      plan: { id: 'PRO', name: 'Pro' },
    });

    // An update older than the stored state changes nothing (not the plan, status or flag).
    const before = await state();
    await apply(update(t + 5, { price: PRICES.CREATOR, status: 'past_due', cancelAtPeriodEnd: false }));
    expect((await mySubscription(fan.userId)).subscription).toEqual(me.subscription);
    expect((await state()).outbox).toBe(before.outbox);

    // invoice.payment_failed: PAST_DUE (limits kept while Stripe retries); invoice.paid: ACTIVE again.
    const invoice = invoiceObject({ id: `in_${subId}`, customer: 'cus_test_1', subscription: subId, amount: 2999, paid: false });
    await apply(stripeEvent('invoice.payment_failed', invoice, t + 20));
    me = await mySubscription(fan.userId);
    expect(me.subscription.status).toBe('PAST_DUE');
    expect(limitOf(me, 'uploads.monthly')?.limit).toBe('200');
    await apply(stripeEvent('invoice.paid', { ...invoice, status: 'paid', amount_paid: 2999 }, t + 30));
    expect((await mySubscription(fan.userId)).subscription.status).toBe('ACTIVE');
    const payments = await service.payments(fan.userId, 20, null);
    expect(payments.totalCount).toBe(1);
    expect(paymentView(payments.edges[0]!.node)).toMatchObject({ kind: 'SUBSCRIPTION', method: 'CARD', status: 'SUCCEEDED', amountCents: 2999 });

    // A plan change in the portal (a new price on the subscription): STUDIO, unlimited storage, published.
    await apply(update(t + 32, { price: PRICES.STUDIO }));
    me = await mySubscription(fan.userId);
    expect(me.subscription.plan).toEqual({ id: 'STUDIO', name: 'Studio' });
    expect(limitOf(me, 'storage.bytes')).toEqual({ key: 'storage.bytes', limit: null, used: '4200' });
    expect((await outbox('payments.subscription.changed.v1', fan.userId)).at(-1)).toMatchObject({ planId: 'STUDIO', previousPlanId: 'PRO', status: 'ACTIVE' });

    // Deletion ends it: FREE again, published once more.
    const deleted = stripeEvent(
      'customer.subscription.deleted',
      subscriptionObject({ id: subId, customer: 'cus_test_1', price: PRICES.STUDIO, status: 'canceled', periodEnd }),
      t + 40,
    );
    await apply(deleted);
    me = await mySubscription(fan.userId);
    expect(me.subscription.plan.id).toBe('FREE');
    expect(limitOf(me, 'uploads.monthly')?.limit).toBe('3');
    expect((await outbox('billing.entitlements.changed.v1', fan.userId)).map((p) => p.planId)).toEqual(['PRO', 'STUDIO', 'FREE']);
    expect((await outbox('payments.subscription.changed.v1', fan.userId)).map((p) => p.status)).toEqual([
      'ACTIVE',
      'ACTIVE',
      'PAST_DUE',
      'ACTIVE',
      'ACTIVE',
      'CANCELED',
    ]);
    // A late "active" update from before the deletion does not bring it back.
    await apply(update(t + 35));
    expect((await mySubscription(fan.userId)).subscription.plan.id).toBe('FREE');
  });

  it('takes effect once however often one event is delivered, even at the same time', async () => {
    const fan = newUser();
    const subId = `sub_rep_${fan.userId.slice(0, 6)}`;
    const created = Math.floor(Date.now() / 1000);
    const event = stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'CREATOR', subId, 'cus_rep'), created);
    const applied = await Promise.all([apply(event), apply(event)]);
    applied.push(await apply(event));
    expect(applied.filter((a) => a)).toHaveLength(1);
    expect((await db.query('select count(*)::int as n from payments.stripe_events where event_id = $1', [event.id])).rows[0].n).toBe(1);
    expect(await outbox('billing.entitlements.changed.v1', fan.userId)).toHaveLength(1);
    expect(await outbox('payments.subscription.changed.v1', fan.userId)).toHaveLength(1);
    expect((await mySubscription(fan.userId)).subscription.plan.id).toBe('CREATOR');
    // The subscription's creation ("incomplete") from the same second, delivered late, does not undo the payment.
    const late = stripeEvent(
      'customer.subscription.created',
      subscriptionObject({ id: subId, customer: 'cus_rep', userId: fan.userId, price: PRICES.CREATOR, status: 'incomplete', periodEnd: created + 86400 }),
      created,
    );
    await apply(late);
    expect((await mySubscription(fan.userId)).subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'CREATOR' } });
  });
});

describe('card deposits', () => {
  it('a PaymentIntent per deposit; payment_intent.succeeded succeeds the deposit once; a failed one fails it; payments page', async () => {
    const fan = newUser();
    expect(await codeOf(service.createDeposit(null, 2500, 'CARD'))).toBe('UNAUTHENTICATED');
    for (const amountCents of [499, 1_000_001, 0, -500]) {
      const refused = await refusal(service.createDeposit(fan, amountCents, 'CARD'));
      expect(refused?.code).toBe('BAD_USER_INPUT');
      expect(refused?.field).toBe('amountCents');
    }
    const deposit = depositView(await service.createDeposit(fan, 2500, 'CARD'));
    expect(deposit).toMatchObject({
      status: 'PENDING',
      method: 'CARD',
      amountCents: 2500,
      depositAddress: null,
      clientSecret: expect.stringMatching(/^pi_test_\d+_secret_/),
    });
    const intentRequest = stripeApi.to('/v1/payment_intents').at(-1)!;
    expect(intentRequest.params).toMatchObject({ amount: '2500', currency: 'usd', 'metadata[depositId]': deposit.id, 'metadata[userId]': fan.userId });
    expect(intentRequest.idempotencyKey).toBe(`deposit-${deposit.id}`);
    const intentId = deposit.clientSecret!.split('_secret_')[0]!;

    const succeeded = paymentIntentObject({ id: intentId, amount: 2500, depositId: deposit.id, status: 'succeeded' });
    const now = Math.floor(Date.now() / 1000);
    // The same success twice under two event ids, and one event delivered twice: one success.
    const event = stripeEvent('payment_intent.succeeded', succeeded, now);
    await apply(event);
    await apply(event);
    await apply(stripeEvent('payment_intent.succeeded', succeeded, now + 1));
    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toEqual([
      expect.objectContaining({ depositId: deposit.id, amountCents: 2500, method: 'CARD' }),
    ]);

    // A failed intent marks its deposit failed, and credits nothing.
    const other = depositView(await service.createDeposit(fan, 900, 'CARD'));
    const otherIntent = other.clientSecret!.split('_secret_')[0]!;
    await apply(
      stripeEvent(
        'payment_intent.payment_failed',
        paymentIntentObject({ id: otherIntent, amount: 900, depositId: other.id, status: 'requires_payment_method' }),
        now,
      ),
    );
    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toHaveLength(1);
    const list = await service.payments(fan.userId, 1, null);
    expect(list.totalCount).toBe(2);
    expect(list.edges.map((e) => paymentView(e.node))).toEqual([{ id: other.id, status: 'FAILED', kind: 'DEPOSIT' }].map((n) => expect.objectContaining(n)));
    expect(list.pageInfo.hasNextPage).toBe(true);
    const next = await service.payments(fan.userId, 1, list.pageInfo.endCursor);
    expect(next.edges.map((e) => paymentView(e.node))).toEqual([expect.objectContaining({ id: deposit.id, status: 'SUCCEEDED' })]);
    expect(next.pageInfo.hasNextPage).toBe(false);
    expect(await codeOf(service.payments(fan.userId, 101, null))).toBe('BAD_USER_INPUT');
  });
});

describe('USDC on Ethereum', () => {
  it('confirms a final transfer to the deposit address; refuses short, misdirected, failed, unfinished and reused ones', async () => {
    const fan = newUser();
    const intruder = newUser();
    const payer = new Wallet(chain.accounts[1]!, chain.provider);
    // No linked Ethereum wallet yet: nothing could fund the deposit, so there is none.
    const unlinked = await refusal(service.createDeposit(fan, 1250, 'USDC_ETHEREUM'));
    expect(unlinked?.code).toBe('BAD_USER_INPUT');
    expect(unlinked?.field).toBe('method');
    expect(unlinked?.message).toMatch(/link your Ethereum wallet first/);
    expect((await db.query('select count(*)::int as n from payments.payments where user_id = $1', [fan.userId])).rows[0].n).toBe(0);
    await linkWallet(fan, 'ETHEREUM', payer.address);
    await linkWallet(intruder, 'ETHEREUM', Wallet.createRandom().address);
    await (await (usdc.connect(new Wallet(chain.accounts[0]!, chain.provider)) as Contract).getFunction('transfer')(payer.address, 1_000_000_000n)).wait();
    const token = usdc.connect(payer) as Contract;
    const transfer = async (to: string, amount: bigint) => {
      const tx = await token.getFunction('transfer')(to, amount);
      await tx.wait();
      return tx.hash as string;
    };
    const create = async (amountCents: number, who = fan) => depositView(await service.createDeposit(who, amountCents, 'USDC_ETHEREUM'));
    const confirm = (depositId: string, txHash: string, who = fan) => service.confirmCryptoDeposit(who, depositId, txHash);

    const deposit = await create(1250);
    expect(deposit).toMatchObject({
      status: 'PENDING',
      method: 'USDC_ETHEREUM',
      depositAddress: ethDeposit,
      expectedBaseUnits: '12500000',
      clientSecret: null,
    });

    const short = await transfer(ethDeposit, 12_499_999n);
    const elsewhere = await transfer(Wallet.createRandom().address, 12_500_000n);
    // A transfer of more than the payer holds, mined and reverted (Hardhat reports the revert to the sender; the chain keeps it).
    const reverting = await payer.populateTransaction({
      ...(await token.getFunction('transfer').populateTransaction(ethDeposit, 10n ** 30n)),
      gasLimit: 100_000,
    });
    const signedRevert = await payer.signTransaction(reverting);
    await chain.rpc('eth_sendRawTransaction', [signedRevert]).catch(() => undefined);
    const failedHash = Transaction.from(signedRevert).hash!;
    expect((await chain.provider.getTransactionReceipt(failedHash))?.status).toBe(0);
    const good = await transfer(ethDeposit, 12_500_000n);

    // One confirmation of three: not final yet.
    const early = await refusal(confirm(deposit.id, good));
    expect(early?.code).toBe('BAD_USER_INPUT');
    expect(early?.message).toMatch(/not final/);
    await chain.rpc('hardhat_mine', ['0x2']);

    for (const [hash, message] of [
      [short, /needs 12500000/],
      [elsewhere, /no USDC/],
      [failedHash, /failed/],
      ['0x' + 'ab'.repeat(32), /No such transaction/],
    ] as const) {
      const refused = await refusal(confirm(deposit.id, hash));
      expect(refused?.code).toBe('BAD_USER_INPUT');
      expect(refused?.message).toMatch(message);
    }
    expect(await codeOf(confirm(deposit.id, 'not-a-hash'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(confirm(deposit.id, good, intruder))).toBe('FORBIDDEN');
    expect(await codeOf(confirm('00000000-0000-4000-8000-000000000000', good))).toBe('NOT_FOUND');

    const ok = await confirm(deposit.id, good.toUpperCase().replace('0X', '0x'));
    expect(confirmedView(ok)).toEqual({ id: deposit.id, status: 'SUCCEEDED', txHash: good.toLowerCase() });
    // Confirming again with the same transaction is harmless; the same transaction for another deposit is a conflict.
    expect((await confirm(deposit.id, good)).status).toBe('SUCCEEDED');
    const second = await create(1000);
    expect(await codeOf(confirm(second.id, good))).toBe('CONFLICT');
    const intruderDeposit = await create(500, intruder);
    expect(await codeOf(confirm(intruderDeposit.id, good, intruder))).toBe('CONFLICT');

    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toEqual([
      expect.objectContaining({ depositId: deposit.id, amountCents: 1250, method: 'USDC_ETHEREUM' }),
    ]);
  });

  it("counts a transfer only for the user whose linked wallet sent it: another user's or a stranger's transfer is refused and stays claimable", async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const deployer = new Wallet(chain.accounts[0]!, chain.provider);
    const [aliceWallet, bobWallet, carolWallet, strangerWallet] = [2, 3, 4, 5].map((i) => new Wallet(chain.accounts[i]!, chain.provider)) as [
      Wallet,
      Wallet,
      Wallet,
      Wallet,
    ];
    for (const wallet of [aliceWallet, carolWallet, strangerWallet])
      await (await (usdc.connect(deployer) as Contract).getFunction('transfer')(wallet.address, 100_000_000n)).wait();
    await linkWallet(alice, 'ETHEREUM', aliceWallet.address);
    await linkWallet(bob, 'ETHEREUM', bobWallet.address);
    const send = async (from: Wallet, amount: bigint) => {
      const tx = await (usdc.connect(from) as Contract).getFunction('transfer')(ethDeposit, amount);
      await tx.wait();
      return tx.hash as string;
    };
    const create = async (who: Principal, amountCents = 1000) => depositView(await service.createDeposit(who, amountCents, 'USDC_ETHEREUM'));
    const confirm = (who: Principal, depositId: string, txHash: string) => service.confirmCryptoDeposit(who, depositId, txHash);

    const fromAlice = await send(aliceWallet, 10_000_000n);
    // Carol's wallet is linked to nobody yet.
    const fromCarol = await send(carolWallet, 10_000_000n);
    await chain.rpc('hardhat_mine', ['0x2']);

    // Bob copies both hashes from the public chain into his own deposit: refused, nothing written.
    const bobDeposit = await create(bob);
    await expectRefusedAsUnlinked(bob, bobDeposit.id, [
      [fromAlice, aliceWallet.address.toLowerCase()],
      [fromCarol, carolWallet.address.toLowerCase()],
    ]);

    // The hashes are still there for their rightful owners: Alice, and Carol once she links the sending wallet.
    const aliceDeposit = await create(alice);
    expect(confirmedView(await confirm(alice, aliceDeposit.id, fromAlice))).toEqual({
      id: aliceDeposit.id,
      status: 'SUCCEEDED',
      txHash: fromAlice,
    });
    expect(await codeOf(service.createDeposit(carol, 1000, 'USDC_ETHEREUM'))).toBe('BAD_USER_INPUT');
    await linkWallet(carol, 'ETHEREUM', carolWallet.address);
    const carolFunded = await create(carol);
    expect((await confirm(carol, carolFunded.id, fromCarol)).status).toBe('SUCCEEDED');
    expect(await codeOf(confirm(bob, bobDeposit.id, fromAlice))).toBe('CONFLICT');
    expect(await outbox('payments.deposit.succeeded.v1', alice.userId)).toEqual([expect.objectContaining({ depositId: aliceDeposit.id, amountCents: 1000 })]);
    expect(await outbox('payments.deposit.succeeded.v1', carol.userId)).toEqual([expect.objectContaining({ depositId: carolFunded.id, amountCents: 1000 })]);
    expect(await outbox('payments.deposit.succeeded.v1', bob.userId)).toEqual([]);
    expect(await depositRow(bobDeposit.id)).toMatchObject({ status: 'PENDING', tx_hash: null });

    // One transaction paying from Alice's linked wallet and a stranger's: only Alice's logs count.
    const batch = await deployContract(deployer, await compileSolidity({ 'BatchPay.sol': BATCH_SOURCE }, 'BatchPay'));
    for (const wallet of [aliceWallet, strangerWallet])
      await (await (usdc.connect(wallet) as Contract).getFunction('approve')(await batch.getAddress(), 6_000_000n)).wait();
    const mixed = await batch.getFunction('pay')(await usdc.getAddress(), [aliceWallet.address, strangerWallet.address], [6_000_000n, 6_000_000n], ethDeposit);
    await mixed.wait();
    await chain.rpc('hardhat_mine', ['0x2']);
    const tooLarge = await create(alice, 1000);
    const short = await refusal(confirm(alice, tooLarge.id, mixed.hash));
    expect(short?.code).toBe('BAD_USER_INPUT');
    expect(short?.message).toMatch(/sends 6000000 USDC base units from wallets linked to your account to the deposit address; the deposit needs 10000000/);
    const fitting = await create(alice, 600);
    expect((await confirm(alice, fitting.id, mixed.hash)).status).toBe('SUCCEEDED');
    expect(await depositRow(fitting.id)).toMatchObject({ status: 'SUCCEEDED', received_base_units: '6000000' });
  });
});

describe('USDC on Solana', () => {
  it("confirms a finalized transfer to the deposit owner's token account; refuses the rest with the contract's codes", async () => {
    const fan = newUser();
    const payer = Keypair.generate();
    solana.fund(payer.publicKey);
    solana.mintTo(solanaMint, payer.publicKey, 1_000_000_000n);
    const unlinked = await refusal(service.createDeposit(fan, 2000, 'USDC_SOLANA'));
    expect(unlinked?.code).toBe('BAD_USER_INPUT');
    expect(unlinked?.field).toBe('method');
    expect(unlinked?.message).toMatch(/link your Solana wallet first/);
    // A linked Ethereum wallet does not fund Solana deposits.
    await linkWallet(fan, 'ETHEREUM', Wallet.createRandom().address);
    expect(await codeOf(service.createDeposit(fan, 2000, 'USDC_SOLANA'))).toBe('BAD_USER_INPUT');
    await linkWallet(fan, 'SOLANA', payer.publicKey.toBase58());
    const create = async (amountCents: number) => depositView(await service.createDeposit(fan, amountCents, 'USDC_SOLANA'));
    const confirm = (depositId: string, txHash: string) => service.confirmCryptoDeposit(fan, depositId, txHash);

    const deposit = await create(2000);
    expect(deposit).toMatchObject({ depositAddress: solanaOwner.toBase58(), expectedBaseUnits: '20000000' });

    const otherMint = solana.createMint(6);
    solana.mintTo(otherMint, payer.publicKey, 1_000_000_000n);
    const short = solana.transfer(solanaMint, payer, solanaOwner, 19_999_999n);
    const elsewhere = solana.transfer(solanaMint, payer, Keypair.generate().publicKey, 20_000_000n);
    const wrongMint = solana.transfer(otherMint, payer, solanaOwner, 20_000_000n);
    const failed = solana.transfer(solanaMint, payer, solanaOwner, 10n ** 15n);
    const good = solana.transfer(solanaMint, payer, solanaOwner, 20_000_000n);

    // Confirmed but not finalized: web3.js at `finalized` does not see it yet.
    expect(await codeOf(confirm(deposit.id, good))).toBe('BAD_USER_INPUT');
    solana.finalize();

    for (const [signature, message] of [
      [short, /needs 20000000/],
      [elsewhere, /no USDC/],
      [wrongMint, /no USDC/],
      [failed, /failed/],
    ] as const) {
      const refused = await refusal(confirm(deposit.id, signature));
      expect(refused?.code).toBe('BAD_USER_INPUT');
      expect(refused?.message).toMatch(message);
    }
    expect(await codeOf(confirm(deposit.id, '0x' + 'ab'.repeat(32)))).toBe('BAD_USER_INPUT');

    expect(await confirm(deposit.id, good)).toMatchObject({ id: deposit.id, status: 'SUCCEEDED' });
    expect(await codeOf(confirm((await create(800)).id, good))).toBe('CONFLICT');
    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toEqual([
      expect.objectContaining({ depositId: deposit.id, amountCents: 2000, method: 'USDC_SOLANA' }),
    ]);
  });

  it("counts a transfer only for the user whose linked wallet's balance paid it: another user's or a stranger's transfer is refused and stays claimable", async () => {
    const [alice, bob, carol] = [newUser(), newUser(), newUser()];
    const [aliceKey, bobKey, carolKey, strangerKey] = [Keypair.generate(), Keypair.generate(), Keypair.generate(), Keypair.generate()];
    for (const key of [aliceKey, carolKey, strangerKey]) solana.mintTo(solanaMint, key.publicKey, 100_000_000n);
    await linkWallet(alice, 'SOLANA', aliceKey.publicKey.toBase58());
    await linkWallet(bob, 'SOLANA', bobKey.publicKey.toBase58());
    const create = async (who: Principal, amountCents = 1000) => depositView(await service.createDeposit(who, amountCents, 'USDC_SOLANA'));
    const confirm = (who: Principal, depositId: string, txHash: string) => service.confirmCryptoDeposit(who, depositId, txHash);

    const fromAlice = solana.transfer(solanaMint, aliceKey, solanaOwner, 10_000_000n);
    const fromCarol = solana.transfer(solanaMint, carolKey, solanaOwner, 10_000_000n);
    // Alice's linked wallet and a stranger's pay 6 USDC each in one transaction.
    const depositAccount = solana.tokenAccount(solanaMint, solanaOwner);
    const mixed = solana.send(
      [aliceKey, strangerKey].map((key) =>
        createTransferCheckedInstruction(
          getAssociatedTokenAddressSync(solanaMint, key.publicKey, true),
          solanaMint,
          depositAccount,
          key.publicKey,
          6_000_000n,
          6,
        ),
      ),
      [aliceKey, strangerKey],
    );
    solana.finalize();

    const bobDeposit = await create(bob);
    await expectRefusedAsUnlinked(bob, bobDeposit.id, [
      [fromAlice, aliceKey.publicKey.toBase58()],
      [fromCarol, carolKey.publicKey.toBase58()],
    ]);

    const aliceDeposit = await create(alice);
    expect(confirmedView(await confirm(alice, aliceDeposit.id, fromAlice))).toEqual({
      id: aliceDeposit.id,
      status: 'SUCCEEDED',
      txHash: fromAlice,
    });
    expect(await codeOf(service.createDeposit(carol, 1000, 'USDC_SOLANA'))).toBe('BAD_USER_INPUT');
    await linkWallet(carol, 'SOLANA', carolKey.publicKey.toBase58());
    const carolDeposit = await create(carol);
    expect((await confirm(carol, carolDeposit.id, fromCarol)).status).toBe('SUCCEEDED');
    expect(await codeOf(confirm(bob, bobDeposit.id, fromCarol))).toBe('CONFLICT');
    expect(await outbox('payments.deposit.succeeded.v1', carol.userId)).toEqual([expect.objectContaining({ depositId: carolDeposit.id, amountCents: 1000 })]);
    expect(await outbox('payments.deposit.succeeded.v1', bob.userId)).toEqual([]);

    // Of the mixed transaction only Alice's 6 USDC count.
    const tooLarge = await create(alice, 1000);
    expect((await refusal(confirm(alice, tooLarge.id, mixed)))?.message).toMatch(
      /sends 6000000 USDC base units from wallets linked to your account .* needs 10000000/,
    );
    const fitting = await create(alice, 600);
    expect((await confirm(alice, fitting.id, mixed)).status).toBe('SUCCEEDED');
    expect(await depositRow(fitting.id)).toMatchObject({ status: 'SUCCEEDED', received_base_units: '6000000' });
    expect((await outbox('payments.deposit.succeeded.v1', alice.userId)).map((p) => [p.depositId, p.amountCents])).toEqual([
      [aliceDeposit.id, 1000],
      [fitting.id, 600],
    ]);
  });
});

describe('linked wallets (identity.wallet.linked.v1)', () => {
  it('projects each wallet once in its lower-case spelling, and never gives a linked wallet to a second user', async () => {
    const dave = newUser();
    const eve = newUser();
    const wallet = Wallet.createRandom();
    const key = wallet.address.toLowerCase();
    const rows = async () => (await db.query('select chain, address, user_id from payments.linked_wallets where address = $1', [key])).rows;

    // The same wallet in upper-case hex, delivered twice, then again in another spelling under a new event id.
    await h.inject(WalletLinked, { userId: dave.userId, chain: 'ETHEREUM', address: `0x${wallet.address.slice(2).toUpperCase()}` }, { times: 2 });
    await h.inject(WalletLinked, { userId: dave.userId, chain: 'ETHEREUM', address: wallet.address });
    expect(await rows()).toEqual([{ chain: 'ETHEREUM', address: key, user_id: dave.userId }]);
    expect(await refusal(service.createDeposit(dave, 500, 'USDC_ETHEREUM'))).toBeNull();

    // identity links a wallet to one account; an event saying otherwise is dead-lettered, not applied.
    const [stolen] = await h.inject(WalletLinked, { userId: eve.userId, chain: 'ETHEREUM', address: wallet.address });
    const [malformed] = await h.inject(WalletLinked, { userId: eve.userId, chain: 'ETHEREUM', address: 'not-an-address' });
    const letters = (await h.deadLetters(WalletLinked.type)) as { envelope: { id: string }; error: string }[];
    const errorOf = (id: string) => letters.find((l) => l.envelope.id === id)?.error;
    expect(errorOf(stolen!.id)).toMatch(/already linked to another user/);
    expect(errorOf(malformed!.id)).toMatch(/malformed ETHEREUM address/);
    expect(await rows()).toEqual([{ chain: 'ETHEREUM', address: key, user_id: dave.userId }]);
    expect((await db.query('select count(*)::int as n from payments.linked_wallets where user_id = $1', [eve.userId])).rows[0].n).toBe(0);
    expect(await codeOf(service.createDeposit(eve, 500, 'USDC_ETHEREUM'))).toBe('BAD_USER_INPUT');
  });
});
