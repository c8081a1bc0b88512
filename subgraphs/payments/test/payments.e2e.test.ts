import { Transaction, Wallet, type Contract } from 'ethers';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySubgraph } from '@vibestream/identity';
import { WalletLinked } from '@vibestream/identity/events';
import { newEnvelope } from '@vibestream/platform';
import { ownershipSubgraph } from '@vibestream/ownership';
import { compileSolidity, deployContract, errorCode, eventually, startTestChain, startTestStack, type TestChain, type TestStack } from '@vibestream/testkit';
import { paymentsSubgraph } from '../src/index.ts';
import {
  CHECKOUT,
  CONFIRM,
  CREATE_DEPOSIT,
  MY_PAYMENTS,
  MY_SUBSCRIPTION,
  PLANS,
  PORTAL,
  PRICES,
  SECRET_KEY,
  TRADING_ACCOUNT,
  WEBHOOK_SECRET,
  checkoutCompleted,
  deliver,
  ethereumSigner,
  invoiceObject,
  linkWallet,
  paymentIntentObject,
  signUp,
  solanaSigner,
  subscriptionObject,
  uploadStored,
  type Deposit,
  type MySubscription,
} from './helpers.ts';
import { createTransferCheckedInstruction, getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Keypair, LocalSolana } from './solana-chain.ts';
import { StripeApiStandIn, stripeEvent } from '../src/local-stripe.ts';

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

let stack: TestStack;
let db: pg.Client;
let stripeApi: StripeApiStandIn;
let chain: TestChain;
let usdc: Contract;
let solana: LocalSolana;
let solanaMint: Keypair['publicKey'];
const ethDeposit = Wallet.createRandom().address;
const solanaOwner = Keypair.generate().publicKey;

beforeAll(async () => {
  stripeApi = new StripeApiStandIn(SECRET_KEY);
  await stripeApi.start();
  chain = await startTestChain();
  const deployer = new Wallet(chain.accounts[0]!, chain.provider);
  usdc = await deployContract(deployer, await compileSolidity({ 'TestUSDC.sol': USDC_SOURCE }, 'TestUSDC'));
  solana = new LocalSolana();
  await solana.start();
  solanaMint = solana.createMint(6);
  stack = await startTestStack('payments', [identitySubgraph, ownershipSubgraph, paymentsSubgraph], {
    STRIPE_SECRET_KEY: SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripeApi.url,
    STRIPE_PRICE_CREATOR: PRICES.CREATOR,
    STRIPE_PRICE_PRO: PRICES.PRO,
    STRIPE_PRICE_STUDIO: PRICES.STUDIO,
    ETH_RPC_URL: chain.url,
    ETH_USDC_ADDRESS: await usdc.getAddress(),
    ETH_DEPOSIT_ADDRESS: ethDeposit,
    ETH_DEPOSIT_CONFIRMATIONS: '3',
    SOLANA_RPC_URL: solana.url,
    SOLANA_USDC_MINT: solanaMint.toBase58(),
    SOLANA_DEPOSIT_OWNER: solanaOwner.toBase58(),
  });
  db = stack.db;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await chain?.close();
  await solana?.stop();
  await stripeApi?.stop();
});

const mySubscription = async (token: string) => (await stack.gql<MySubscription>(MY_SUBSCRIPTION, {}, { token })).data!.me;
const limitOf = (me: MySubscription['me'], key: string) => me.entitlements.find((e) => e.key === key);
const cash = async (token: string) =>
  (await stack.gql<{ me: { tradingAccount: { cashCents: number } } }>(TRADING_ACCOUNT, {}, { token })).data?.me.tradingAccount.cashCents;
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

/**
 * Confirming each transaction (with the wallet it came from) into the pending deposit is refused
 * as not coming from the caller's linked wallets, naming the sender, and writes nothing.
 */
async function expectRefusedAsUnlinked(who: { token: string }, depositId: string, transactions: [txHash: string, sender: string][]) {
  const before = await state();
  for (const [txHash, sender] of transactions) {
    const res = await stack.gql(CONFIRM, { depositId, txHash }, { token: who.token });
    expect(errorCode(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.extensions!.field).toBe('txHash');
    expect(res.errors![0]!.message).toMatch(/^The transfer must come from a wallet linked to your account/);
    expect(res.errors![0]!.message).toContain(sender);
  }
  expect(await state()).toEqual(before);
  expect(await depositRow(depositId)).toEqual({ status: 'PENDING', tx_hash: null, received_base_units: null });
}

describe('plans', () => {
  it('lists the four plans with their limits, without signing in', async () => {
    const res = await stack.gql<{ plans: { id: string; priceCents: number; interval: string; entitlements: { key: string; limit: string | null }[] }[] }>(
      PLANS,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.plans.map((p) => [p.id, p.priceCents, p.interval])).toEqual([
      ['FREE', 0, 'MONTH'],
      ['CREATOR', 999, 'MONTH'],
      ['PRO', 2999, 'MONTH'],
      ['STUDIO', 9999, 'MONTH'],
    ]);
    const studio = res.data!.plans[3]!.entitlements;
    expect(studio).toEqual([
      { key: 'uploads.monthly', limit: '1000' },
      { key: 'storage.bytes', limit: null },
      { key: 'stream.maxBitrateKbps', limit: '320' },
      { key: 'analytics', limit: null },
    ]);
  });
});

describe('subscriptions through Stripe', () => {
  it('checkout, webhooks in and out of order, failed and paid invoices, cancellation', async () => {
    const fan = await signUp(stack, 'FAN', 'Subscriber');
    // FREE before anything, with usage counted from catalog's uploads (this month only).
    await uploadStored(stack, fan.userId, 1000);
    await uploadStored(stack, fan.userId, 2500);
    await uploadStored(stack, fan.userId, 700, new Date(Date.UTC(2020, 0, 15)));
    const free = await eventually(
      () => mySubscription(fan.token),
      (me) => limitOf(me, 'storage.bytes')?.used === '4200',
    );
    expect(free.subscription).toEqual({ status: 'ACTIVE', currentPeriodEnd: null, cancelAtPeriodEnd: false, plan: { id: 'FREE', name: 'Free' } });
    expect(free.entitlements).toEqual([
      { key: 'uploads.monthly', limit: '3', used: '2' },
      { key: 'storage.bytes', limit: String(1024 ** 3), used: '4200' },
      { key: 'stream.maxBitrateKbps', limit: '128', used: null },
      { key: 'analytics', limit: '0', used: null },
    ]);

    // Checkout: one customer for the user, then a subscription-mode session per request.
    expect(errorCode(await stack.gql(CHECKOUT, { planId: 'PRO' }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(CHECKOUT, { planId: 'FREE' }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(CHECKOUT, { planId: 'GOLD' }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    const first = await stack.gql<{ startSubscriptionCheckout: { checkoutUrl: string } }>(CHECKOUT, { planId: 'PRO' }, { token: fan.token });
    expect(first.errors).toBeUndefined();
    expect(first.data!.startSubscriptionCheckout.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_\d+$/);
    await stack.gql(CHECKOUT, { planId: 'PRO' }, { token: fan.token });
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

    const portal = await stack.gql<{ openBillingPortal: { url: string } }>(PORTAL, {}, { token: fan.token });
    expect(portal.data!.openBillingPortal.url).toMatch(/^https:\/\/billing\.stripe\.test\/p\/session\//);
    const portalRequest = stripeApi.to('/v1/billing_portal/sessions').at(-1)!;
    expect(portalRequest.params).toMatchObject({ customer: 'cus_test_1' });
    expect(portalRequest.idempotencyKey).toMatch(/^portal-/);

    // checkout.session.completed activates PRO and raises the limits; entitlements are published.
    const t = Math.floor(Date.now() / 1000);
    const subId = `sub_${fan.userId.slice(0, 8)}`;
    expect((await deliver(stack, stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'PRO', subId, 'cus_test_1'), t))).status).toBe(200);
    let me = await mySubscription(fan.token);
    expect(me.subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'PRO', name: 'Pro' } });
    expect(limitOf(me, 'uploads.monthly')).toEqual({ key: 'uploads.monthly', limit: '200', used: '2' });
    expect(limitOf(me, 'analytics')?.limit).toBeNull();
    const published = await outbox('billing.entitlements.changed.v1', fan.userId);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ planId: 'PRO', entitlements: expect.arrayContaining([{ key: 'storage.bytes', limit: 100 * 1024 ** 3 }]) });
    expect(await outbox('payments.subscription.changed.v1', fan.userId)).toEqual([
      expect.objectContaining({ planId: 'PRO', previousPlanId: null, status: 'ACTIVE' }),
    ]);
    expect(errorCode(await stack.gql(CHECKOUT, { planId: 'STUDIO' }, { token: fan.token }))).toBe('CONFLICT');

    // A newer subscription update sets the period and the cancellation flag.
    const periodEnd = t + 30 * 86400;
    const update = (created: number, overrides: Partial<Parameters<typeof subscriptionObject>[0]> = {}) =>
      stripeEvent(
        'customer.subscription.updated',
        subscriptionObject({ id: subId, customer: 'cus_test_1', price: PRICES.PRO, status: 'active', periodEnd, ...overrides }),
        created,
      );
    expect((await deliver(stack, update(t + 10, { cancelAtPeriodEnd: true }))).status).toBe(200);
    me = await mySubscription(fan.token);
    expect(me.subscription).toEqual({
      status: 'ACTIVE',
      currentPeriodEnd: new Date(periodEnd * 1000).toISOString(),
      cancelAtPeriodEnd: true,
      plan: { id: 'PRO', name: 'Pro' },
    });

    // An update older than the stored state changes nothing (not the plan, status or flag).
    const before = await state();
    const stale = await deliver(stack, update(t + 5, { price: PRICES.CREATOR, status: 'past_due', cancelAtPeriodEnd: false }));
    expect(stale.status).toBe(200);
    expect((await mySubscription(fan.token)).subscription).toEqual(me.subscription);
    expect((await state()).outbox).toBe(before.outbox);

    // invoice.payment_failed: PAST_DUE (limits kept while Stripe retries); invoice.paid: ACTIVE again.
    const invoice = invoiceObject({ id: `in_${subId}`, customer: 'cus_test_1', subscription: subId, amount: 2999, paid: false });
    expect((await deliver(stack, stripeEvent('invoice.payment_failed', invoice, t + 20))).status).toBe(200);
    me = await mySubscription(fan.token);
    expect(me.subscription.status).toBe('PAST_DUE');
    expect(limitOf(me, 'uploads.monthly')?.limit).toBe('200');
    expect((await deliver(stack, stripeEvent('invoice.paid', { ...invoice, status: 'paid', amount_paid: 2999 }, t + 30))).status).toBe(200);
    expect((await mySubscription(fan.token)).subscription.status).toBe('ACTIVE');
    const payments = await stack.gql<{
      me: { payments: { totalCount: number; edges: { node: { kind: string; method: string; status: string; amountCents: number } }[] } };
    }>(MY_PAYMENTS, { first: 20 }, { token: fan.token });
    expect(payments.data!.me.payments.totalCount).toBe(1);
    expect(payments.data!.me.payments.edges[0]!.node).toMatchObject({ kind: 'SUBSCRIPTION', method: 'CARD', status: 'SUCCEEDED', amountCents: 2999 });

    // A plan change in the portal (a new price on the subscription): STUDIO, unlimited storage, published.
    expect((await deliver(stack, update(t + 32, { price: PRICES.STUDIO }))).status).toBe(200);
    me = await mySubscription(fan.token);
    expect(me.subscription.plan).toEqual({ id: 'STUDIO', name: 'Studio' });
    expect(limitOf(me, 'storage.bytes')).toEqual({ key: 'storage.bytes', limit: null, used: '4200' });
    expect((await outbox('payments.subscription.changed.v1', fan.userId)).at(-1)).toMatchObject({ planId: 'STUDIO', previousPlanId: 'PRO', status: 'ACTIVE' });

    // Deletion ends it: FREE again, published once more.
    const deleted = stripeEvent(
      'customer.subscription.deleted',
      subscriptionObject({ id: subId, customer: 'cus_test_1', price: PRICES.STUDIO, status: 'canceled', periodEnd }),
      t + 40,
    );
    expect((await deliver(stack, deleted)).status).toBe(200);
    me = await mySubscription(fan.token);
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
    await deliver(stack, update(t + 35));
    expect((await mySubscription(fan.token)).subscription.plan.id).toBe('FREE');
  });

  it('refuses a bad, missing or stale signature with 400 and changes nothing', async () => {
    const fan = await signUp(stack, 'FAN', 'Forger');
    const event = stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'STUDIO', 'sub_forged', 'cus_forged'), Math.floor(Date.now() / 1000));
    const before = await state();
    const forged = `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`;
    expect((await deliver(stack, event, { signature: forged })).status).toBe(400);
    expect((await deliver(stack, event, { signature: null })).status).toBe(400);
    expect((await deliver(stack, event, { timestamp: Math.floor(Date.now() / 1000) - 301 })).status).toBe(400);
    // Signed for other bytes: the body is verified exactly as sent.
    const other = await fetch(`${stack.publicUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': (await import('../src/local-stripe.ts')).signedWebhook(event, WEBHOOK_SECRET).signature,
      },
      body: JSON.stringify(event, null, 2),
    });
    expect(other.status).toBe(400);
    expect(await state()).toEqual(before);
    expect((await mySubscription(fan.token)).subscription.plan.id).toBe('FREE');
  });

  it('takes effect once however often one event is delivered, even at the same time', async () => {
    const fan = await signUp(stack, 'FAN', 'Repeat');
    const subId = `sub_rep_${fan.userId.slice(0, 6)}`;
    const created = Math.floor(Date.now() / 1000);
    const event = stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'CREATOR', subId, 'cus_rep'), created);
    const answers = await Promise.all([deliver(stack, event), deliver(stack, event)]);
    answers.push(await deliver(stack, event));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
    expect((await db.query('select count(*)::int as n from payments.stripe_events where event_id = $1', [event.id])).rows[0].n).toBe(1);
    expect(await outbox('billing.entitlements.changed.v1', fan.userId)).toHaveLength(1);
    expect(await outbox('payments.subscription.changed.v1', fan.userId)).toHaveLength(1);
    expect((await mySubscription(fan.token)).subscription.plan.id).toBe('CREATOR');
    // The subscription's creation ("incomplete") from the same second, delivered late, does not undo the payment.
    const late = stripeEvent(
      'customer.subscription.created',
      subscriptionObject({ id: subId, customer: 'cus_rep', userId: fan.userId, price: PRICES.CREATOR, status: 'incomplete', periodEnd: created + 86400 }),
      created,
    );
    expect((await deliver(stack, late)).status).toBe(200);
    expect((await mySubscription(fan.token)).subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'CREATOR' } });
  });
});

describe('card deposits', () => {
  it('a PaymentIntent per deposit; payment_intent.succeeded credits the trading account once', async () => {
    const fan = await signUp(stack, 'FAN', 'Card');
    expect(errorCode(await stack.gql(CREATE_DEPOSIT, { amountCents: 2500, method: 'CARD' }))).toBe('UNAUTHENTICATED');
    for (const amountCents of [499, 1_000_001, 0, -500]) {
      const res = await stack.gql(CREATE_DEPOSIT, { amountCents, method: 'CARD' }, { token: fan.token });
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.field).toBe('amountCents');
    }
    const created = await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents: 2500, method: 'CARD' }, { token: fan.token });
    expect(created.errors).toBeUndefined();
    const deposit = created.data!.createDeposit;
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
    // The same success twice under two event ids, and one event delivered twice: one credit.
    const event = stripeEvent('payment_intent.succeeded', succeeded, now);
    await deliver(stack, event);
    await deliver(stack, event);
    await deliver(stack, stripeEvent('payment_intent.succeeded', succeeded, now + 1));
    expect(
      await eventually(
        () => cash(fan.token),
        (c) => c === 2500,
      ),
    ).toBe(2500);
    await new Promise((r) => setTimeout(r, 500));
    expect(await cash(fan.token)).toBe(2500);
    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toEqual([
      expect.objectContaining({ depositId: deposit.id, amountCents: 2500, method: 'CARD' }),
    ]);

    // A failed intent marks its deposit failed, and credits nothing.
    const other = (await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents: 900, method: 'CARD' }, { token: fan.token })).data!.createDeposit;
    const otherIntent = other.clientSecret!.split('_secret_')[0]!;
    await deliver(
      stack,
      stripeEvent(
        'payment_intent.payment_failed',
        paymentIntentObject({ id: otherIntent, amount: 900, depositId: other.id, status: 'requires_payment_method' }),
        now,
      ),
    );
    const list = await stack.gql<{
      me: {
        payments: {
          totalCount: number;
          edges: { node: { id: string; status: string; kind: string } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string };
        };
      };
    }>(MY_PAYMENTS, { first: 1 }, { token: fan.token });
    expect(list.data!.me.payments.totalCount).toBe(2);
    expect(list.data!.me.payments.edges.map((e) => e.node)).toEqual(
      [{ id: other.id, status: 'FAILED', kind: 'DEPOSIT' }].map((n) => expect.objectContaining(n)),
    );
    expect(list.data!.me.payments.pageInfo.hasNextPage).toBe(true);
    const next = await stack.gql<{ me: { payments: { edges: { node: { id: string; status: string } }[]; pageInfo: { hasNextPage: boolean } } } }>(
      MY_PAYMENTS,
      { first: 1, after: list.data!.me.payments.pageInfo.endCursor },
      { token: fan.token },
    );
    expect(next.data!.me.payments.edges.map((e) => e.node)).toEqual([expect.objectContaining({ id: deposit.id, status: 'SUCCEEDED' })]);
    expect(next.data!.me.payments.pageInfo.hasNextPage).toBe(false);
    expect(errorCode(await stack.gql(MY_PAYMENTS, { first: 101 }, { token: fan.token }))).toBe('BAD_USER_INPUT');
  });
});

describe('USDC on Ethereum', () => {
  it('confirms a final transfer to the deposit address; refuses short, misdirected, failed, unfinished and reused ones', async () => {
    const fan = await signUp(stack, 'FAN', 'Ether');
    const intruder = await signUp(stack, 'FAN', 'Intruder');
    const payer = new Wallet(chain.accounts[1]!, chain.provider);
    // No linked Ethereum wallet yet: nothing could fund the deposit, so there is none.
    const unlinked = await stack.gql(CREATE_DEPOSIT, { amountCents: 1250, method: 'USDC_ETHEREUM' }, { token: fan.token });
    expect(errorCode(unlinked)).toBe('BAD_USER_INPUT');
    expect(unlinked.errors![0]!.extensions!.field).toBe('method');
    expect(unlinked.errors![0]!.message).toMatch(/link your Ethereum wallet first/);
    expect((await db.query('select count(*)::int as n from payments.payments where user_id = $1', [fan.userId])).rows[0].n).toBe(0);
    await linkWallet(stack, db, fan, ethereumSigner(payer));
    await linkWallet(stack, db, intruder, ethereumSigner(Wallet.createRandom()));
    await (await (usdc.connect(new Wallet(chain.accounts[0]!, chain.provider)) as Contract).getFunction('transfer')(payer.address, 1_000_000_000n)).wait();
    const token = usdc.connect(payer) as Contract;
    const transfer = async (to: string, amount: bigint) => {
      const tx = await token.getFunction('transfer')(to, amount);
      await tx.wait();
      return tx.hash as string;
    };
    const create = async (amountCents: number, who = fan) =>
      (await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents, method: 'USDC_ETHEREUM' }, { token: who.token })).data!.createDeposit;
    const confirm = (depositId: string, txHash: string, who = fan) =>
      stack.gql<{ confirmCryptoDeposit: { id: string; status: string; txHash: string } }>(CONFIRM, { depositId, txHash }, { token: who.token });

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
    const early = await confirm(deposit.id, good);
    expect(errorCode(early)).toBe('BAD_USER_INPUT');
    expect(early.errors![0]!.message).toMatch(/not final/);
    await chain.rpc('hardhat_mine', ['0x2']);

    for (const [hash, message] of [
      [short, /needs 12500000/],
      [elsewhere, /no USDC/],
      [failedHash, /failed/],
      ['0x' + 'ab'.repeat(32), /No such transaction/],
    ] as const) {
      const res = await confirm(deposit.id, hash);
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.message).toMatch(message);
    }
    expect(errorCode(await confirm(deposit.id, 'not-a-hash'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await confirm(deposit.id, good, intruder))).toBe('FORBIDDEN');
    expect(errorCode(await confirm('00000000-0000-4000-8000-000000000000', good))).toBe('NOT_FOUND');

    const ok = await confirm(deposit.id, good.toUpperCase().replace('0X', '0x'));
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.confirmCryptoDeposit).toEqual({ id: deposit.id, status: 'SUCCEEDED', txHash: good.toLowerCase() });
    // Confirming again with the same transaction is harmless; the same transaction for another deposit is a conflict.
    expect((await confirm(deposit.id, good)).data!.confirmCryptoDeposit.status).toBe('SUCCEEDED');
    const second = await create(1000);
    expect(errorCode(await confirm(second.id, good))).toBe('CONFLICT');
    const intruderDeposit = await create(500, intruder);
    expect(errorCode(await confirm(intruderDeposit.id, good, intruder))).toBe('CONFLICT');

    expect(
      await eventually(
        () => cash(fan.token),
        (c) => c === 1250,
      ),
    ).toBe(1250);
    expect(await outbox('payments.deposit.succeeded.v1', fan.userId)).toEqual([
      expect.objectContaining({ depositId: deposit.id, amountCents: 1250, method: 'USDC_ETHEREUM' }),
    ]);
  });

  it("counts a transfer only for the user whose linked wallet sent it: another user's or a stranger's transfer is refused and stays claimable", async () => {
    const [alice, bob, carol] = [await signUp(stack, 'FAN', 'Alice'), await signUp(stack, 'FAN', 'Bob'), await signUp(stack, 'FAN', 'Carol')];
    const deployer = new Wallet(chain.accounts[0]!, chain.provider);
    const [aliceWallet, bobWallet, carolWallet, strangerWallet] = [2, 3, 4, 5].map((i) => new Wallet(chain.accounts[i]!, chain.provider)) as [
      Wallet,
      Wallet,
      Wallet,
      Wallet,
    ];
    for (const wallet of [aliceWallet, carolWallet, strangerWallet])
      await (await (usdc.connect(deployer) as Contract).getFunction('transfer')(wallet.address, 100_000_000n)).wait();
    await linkWallet(stack, db, alice, ethereumSigner(aliceWallet));
    await linkWallet(stack, db, bob, ethereumSigner(bobWallet));
    const send = async (from: Wallet, amount: bigint) => {
      const tx = await (usdc.connect(from) as Contract).getFunction('transfer')(ethDeposit, amount);
      await tx.wait();
      return tx.hash as string;
    };
    const create = async (who: { token: string }, amountCents = 1000) =>
      (await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents, method: 'USDC_ETHEREUM' }, { token: who.token })).data!.createDeposit;
    const confirm = (who: { token: string }, depositId: string, txHash: string) =>
      stack.gql<{ confirmCryptoDeposit: { id: string; status: string; txHash: string } }>(CONFIRM, { depositId, txHash }, { token: who.token });

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
    expect((await confirm(alice, aliceDeposit.id, fromAlice)).data!.confirmCryptoDeposit).toEqual({
      id: aliceDeposit.id,
      status: 'SUCCEEDED',
      txHash: fromAlice,
    });
    expect(errorCode(await stack.gql(CREATE_DEPOSIT, { amountCents: 1000, method: 'USDC_ETHEREUM' }, { token: carol.token }))).toBe('BAD_USER_INPUT');
    await linkWallet(stack, db, carol, ethereumSigner(carolWallet));
    const carolFunded = await create(carol);
    expect((await confirm(carol, carolFunded.id, fromCarol)).data!.confirmCryptoDeposit.status).toBe('SUCCEEDED');
    expect(errorCode(await confirm(bob, bobDeposit.id, fromAlice))).toBe('CONFLICT');
    expect(
      await eventually(
        () => cash(alice.token),
        (c) => c === 1000,
      ),
    ).toBe(1000);
    expect(
      await eventually(
        () => cash(carol.token),
        (c) => c === 1000,
      ),
    ).toBe(1000);
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
    const short = await confirm(alice, tooLarge.id, mixed.hash);
    expect(errorCode(short)).toBe('BAD_USER_INPUT');
    expect(short.errors![0]!.message).toMatch(
      /sends 6000000 USDC base units from wallets linked to your account to the deposit address; the deposit needs 10000000/,
    );
    const fitting = await create(alice, 600);
    expect((await confirm(alice, fitting.id, mixed.hash)).data!.confirmCryptoDeposit.status).toBe('SUCCEEDED');
    expect(await depositRow(fitting.id)).toMatchObject({ status: 'SUCCEEDED', received_base_units: '6000000' });
  });
});

describe('USDC on Solana', () => {
  it("confirms a finalized transfer to the deposit owner's token account; refuses the rest with the contract's codes", async () => {
    const fan = await signUp(stack, 'FAN', 'Sol');
    const payer = Keypair.generate();
    solana.fund(payer.publicKey);
    solana.mintTo(solanaMint, payer.publicKey, 1_000_000_000n);
    const unlinked = await stack.gql(CREATE_DEPOSIT, { amountCents: 2000, method: 'USDC_SOLANA' }, { token: fan.token });
    expect(errorCode(unlinked)).toBe('BAD_USER_INPUT');
    expect(unlinked.errors![0]!.extensions!.field).toBe('method');
    expect(unlinked.errors![0]!.message).toMatch(/link your Solana wallet first/);
    // A linked Ethereum wallet does not fund Solana deposits.
    await linkWallet(stack, db, fan, ethereumSigner(Wallet.createRandom()));
    expect(errorCode(await stack.gql(CREATE_DEPOSIT, { amountCents: 2000, method: 'USDC_SOLANA' }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    await linkWallet(stack, db, fan, solanaSigner(payer));
    const create = async (amountCents: number) =>
      (await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents, method: 'USDC_SOLANA' }, { token: fan.token })).data!.createDeposit;
    const confirm = (depositId: string, txHash: string) =>
      stack.gql<{ confirmCryptoDeposit: { id: string; status: string } }>(CONFIRM, { depositId, txHash }, { token: fan.token });

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
    const early = await confirm(deposit.id, good);
    expect(errorCode(early)).toBe('BAD_USER_INPUT');
    solana.finalize();

    for (const [signature, message] of [
      [short, /needs 20000000/],
      [elsewhere, /no USDC/],
      [wrongMint, /no USDC/],
      [failed, /failed/],
    ] as const) {
      const res = await confirm(deposit.id, signature);
      expect(errorCode(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.message).toMatch(message);
    }
    expect(errorCode(await confirm(deposit.id, '0x' + 'ab'.repeat(32)))).toBe('BAD_USER_INPUT');

    const ok = await confirm(deposit.id, good);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.confirmCryptoDeposit).toMatchObject({ id: deposit.id, status: 'SUCCEEDED' });
    expect(errorCode(await confirm((await create(800)).id, good))).toBe('CONFLICT');
    expect(
      await eventually(
        () => cash(fan.token),
        (c) => c === 2000,
      ),
    ).toBe(2000);
  });

  it("counts a transfer only for the user whose linked wallet's balance paid it: another user's or a stranger's transfer is refused and stays claimable", async () => {
    const [alice, bob, carol] = [await signUp(stack, 'FAN', 'Sol Alice'), await signUp(stack, 'FAN', 'Sol Bob'), await signUp(stack, 'FAN', 'Sol Carol')];
    const [aliceKey, bobKey, carolKey, strangerKey] = [Keypair.generate(), Keypair.generate(), Keypair.generate(), Keypair.generate()];
    for (const key of [aliceKey, carolKey, strangerKey]) solana.mintTo(solanaMint, key.publicKey, 100_000_000n);
    await linkWallet(stack, db, alice, solanaSigner(aliceKey));
    await linkWallet(stack, db, bob, solanaSigner(bobKey));
    const create = async (who: { token: string }, amountCents = 1000) =>
      (await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents, method: 'USDC_SOLANA' }, { token: who.token })).data!.createDeposit;
    const confirm = (who: { token: string }, depositId: string, txHash: string) =>
      stack.gql<{ confirmCryptoDeposit: { id: string; status: string; txHash: string } }>(CONFIRM, { depositId, txHash }, { token: who.token });

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
    expect((await confirm(alice, aliceDeposit.id, fromAlice)).data!.confirmCryptoDeposit).toEqual({
      id: aliceDeposit.id,
      status: 'SUCCEEDED',
      txHash: fromAlice,
    });
    expect(errorCode(await stack.gql(CREATE_DEPOSIT, { amountCents: 1000, method: 'USDC_SOLANA' }, { token: carol.token }))).toBe('BAD_USER_INPUT');
    await linkWallet(stack, db, carol, solanaSigner(carolKey));
    const carolDeposit = await create(carol);
    expect((await confirm(carol, carolDeposit.id, fromCarol)).data!.confirmCryptoDeposit.status).toBe('SUCCEEDED');
    expect(errorCode(await confirm(bob, bobDeposit.id, fromCarol))).toBe('CONFLICT');
    expect(
      await eventually(
        () => cash(carol.token),
        (c) => c === 1000,
      ),
    ).toBe(1000);
    expect(await outbox('payments.deposit.succeeded.v1', bob.userId)).toEqual([]);

    // Of the mixed transaction only Alice's 6 USDC count.
    const tooLarge = await create(alice, 1000);
    expect((await confirm(alice, tooLarge.id, mixed)).errors![0]!.message).toMatch(
      /sends 6000000 USDC base units from wallets linked to your account .* needs 10000000/,
    );
    const fitting = await create(alice, 600);
    expect((await confirm(alice, fitting.id, mixed)).data!.confirmCryptoDeposit.status).toBe('SUCCEEDED');
    expect(await depositRow(fitting.id)).toMatchObject({ status: 'SUCCEEDED', received_base_units: '6000000' });
    expect(
      await eventually(
        () => cash(alice.token),
        (c) => c === 1600,
      ),
    ).toBe(1600);
  });
});

describe('linked wallets (identity.wallet.linked.v1)', () => {
  it('projects each wallet once in its lower-case spelling, and never gives a linked wallet to a second user', async () => {
    const dave = await signUp(stack, 'FAN', 'Dave');
    const eve = await signUp(stack, 'FAN', 'Eve');
    const wallet = Wallet.createRandom();
    const key = wallet.address.toLowerCase();
    const linked = (userId: string, address: string) => newEnvelope('identity', WalletLinked.type, { userId, chain: 'ETHEREUM', address });
    const rows = async () => (await db.query('select chain, address, user_id from payments.linked_wallets where address = $1', [key])).rows;

    // The same wallet in upper-case hex, delivered twice, then again in another spelling under a new event id.
    const first = linked(dave.userId, `0x${wallet.address.slice(2).toUpperCase()}`);
    await stack.infra.transport.append(first);
    await stack.infra.transport.append(first);
    await stack.infra.transport.append(linked(dave.userId, wallet.address));
    expect(await eventually(rows, (r) => r.length > 0)).toEqual([{ chain: 'ETHEREUM', address: key, user_id: dave.userId }]);
    expect((await stack.gql(CREATE_DEPOSIT, { amountCents: 500, method: 'USDC_ETHEREUM' }, { token: dave.token })).errors).toBeUndefined();

    // identity links a wallet to one account; an event saying otherwise is dead-lettered, not applied.
    const stolen = linked(eve.userId, wallet.address);
    const malformed = linked(eve.userId, 'not-an-address');
    await stack.infra.transport.append(stolen);
    await stack.infra.transport.append(malformed);
    const letters = await eventually(
      () => stack.infra.transport.deadLetters(WalletLinked.type),
      (list) => [stolen, malformed].every((e) => list.some((l) => (l.envelope as { id: string }).id === e.id)),
    );
    const errorOf = (id: string) => letters.find((l) => (l.envelope as { id: string }).id === id)?.error;
    expect(errorOf(stolen.id)).toMatch(/already linked to another user/);
    expect(errorOf(malformed.id)).toMatch(/malformed ETHEREUM address/);
    expect(await rows()).toEqual([{ chain: 'ETHEREUM', address: key, user_id: dave.userId }]);
    expect((await db.query('select count(*)::int as n from payments.linked_wallets where user_id = $1', [eve.userId])).rows[0].n).toBe(0);
    expect(errorCode(await stack.gql(CREATE_DEPOSIT, { amountCents: 500, method: 'USDC_ETHEREUM' }, { token: eve.token }))).toBe('BAD_USER_INPUT');
  });
});

describe('privacy', () => {
  it("another user's subscription, entitlements and payments are FORBIDDEN through any path", async () => {
    const fan = await signUp(stack, 'FAN', 'Private');
    const res = await stack.gql(MY_SUBSCRIPTION);
    expect(res.data?.me ?? null).toBeNull();
    const direct = await stack.subgraph('payments')(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { subscription { status } } } }`,
      { r: [{ __typename: 'User', id: fan.userId }] },
      { token: (await signUp(stack, 'FAN', 'Snoop')).token },
    );
    expect(errorCode(direct)).toBe('FORBIDDEN');
  });
});
