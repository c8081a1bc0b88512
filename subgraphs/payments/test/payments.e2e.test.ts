// payments through the gateway, with identity (sign-up, wallet linking) and ownership (the trading
// account) booted: what crosses contexts or needs HTTP. The use cases' rules (subscriptions from
// Stripe's events, card and USDC deposits on both chains, the linked-wallet projection) run on
// payments' own schema in use-cases.test.ts.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identitySubgraph } from '@vibestream/identity';
import { ownershipSubgraph } from '@vibestream/ownership';
import { errorCode, eventually, startTestStack, type TestStack } from '@vibestream/testkit';
import { paymentsSubgraph } from '../src/index.ts';
import {
  CONFIRM,
  CREATE_DEPOSIT,
  MY_SUBSCRIPTION,
  PLANS,
  PRICES,
  SECRET_KEY,
  TRADING_ACCOUNT,
  WEBHOOK_SECRET,
  checkoutCompleted,
  deliver,
  linkWallet,
  paymentIntentObject,
  signUp,
  solanaSigner,
  type Deposit,
  type MySubscription,
} from './helpers.ts';
import { Keypair, LocalSolana } from './solana-chain.ts';
import { StripeApiStandIn, stripeEvent } from '../src/local-stripe.ts';

let stack: TestStack;
let db: pg.Client;
let stripeApi: StripeApiStandIn;
let solana: LocalSolana;
let solanaMint: Keypair['publicKey'];
const solanaOwner = Keypair.generate().publicKey;

beforeAll(async () => {
  stripeApi = new StripeApiStandIn(SECRET_KEY);
  await stripeApi.start();
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
    SOLANA_RPC_URL: solana.url,
    SOLANA_USDC_MINT: solanaMint.toBase58(),
    SOLANA_DEPOSIT_OWNER: solanaOwner.toBase58(),
  });
  db = stack.db;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await solana?.stop();
  await stripeApi?.stop();
});

const mySubscription = async (token: string) => (await stack.gql<MySubscription>(MY_SUBSCRIPTION, {}, { token })).data!.me;
const cash = async (token: string) =>
  (await stack.gql<{ me: { tradingAccount: { cashCents: number } } }>(TRADING_ACCOUNT, {}, { token })).data?.me.tradingAccount.cashCents;
const state = async () =>
  (
    await db.query(
      `select (select count(*) from payments.stripe_events)::int as events, (select count(*) from payments.subscriptions)::int as subscriptions,
              (select count(*) from payments.outbox_events)::int as outbox, (select count(*) from payments.payments)::int as payments`,
    )
  ).rows[0] as Record<string, number>;

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

describe('Stripe webhooks', () => {
  it('a signed webhook through the gateway changes what me.subscription answers', async () => {
    const fan = await signUp(stack, 'FAN', 'Webhooked');
    expect((await mySubscription(fan.token)).subscription.plan.id).toBe('FREE');
    const subId = `sub_gw_${fan.userId.slice(0, 8)}`;
    const event = stripeEvent('checkout.session.completed', checkoutCompleted(fan.userId, 'PRO', subId, 'cus_gw'), Math.floor(Date.now() / 1000));
    expect(await deliver(stack, event)).toMatchObject({ status: 200, body: { duplicate: false } });
    expect((await mySubscription(fan.token)).subscription).toMatchObject({ status: 'ACTIVE', plan: { id: 'PRO', name: 'Pro' } });
    expect(await deliver(stack, event)).toMatchObject({ status: 200, body: { duplicate: true } });
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
});

describe('card deposits', () => {
  it('a card deposit paid at Stripe credits the trading account once, however often its success is delivered', async () => {
    const fan = await signUp(stack, 'FAN', 'Card');
    const created = await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents: 2500, method: 'CARD' }, { token: fan.token });
    expect(created.errors).toBeUndefined();
    const deposit = created.data!.createDeposit;
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
  });
});

describe('USDC on Solana', () => {
  it('a wallet linked through identity funds a USDC deposit, and ownership credits it', async () => {
    const fan = await signUp(stack, 'FAN', 'Sol');
    const payer = Keypair.generate();
    solana.fund(payer.publicKey);
    solana.mintTo(solanaMint, payer.publicKey, 100_000_000n);
    // No wait for payments' projection of the wallet: the deposit waits for it (read-your-writes).
    await linkWallet(stack, fan, solanaSigner(payer));
    const created = await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents: 2000, method: 'USDC_SOLANA' }, { token: fan.token });
    expect(created.errors).toBeUndefined();
    const deposit = created.data!.createDeposit;
    expect(deposit).toMatchObject({ status: 'PENDING', depositAddress: solanaOwner.toBase58(), expectedBaseUnits: '20000000' });
    const good = solana.transfer(solanaMint, payer, solanaOwner, 20_000_000n);
    solana.finalize();
    const ok = await stack.gql<{ confirmCryptoDeposit: { id: string; status: string } }>(
      CONFIRM,
      { depositId: deposit.id, txHash: good },
      { token: fan.token },
    );
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.confirmCryptoDeposit).toMatchObject({ id: deposit.id, status: 'SUCCEEDED' });
    expect(
      await eventually(
        () => cash(fan.token),
        (c) => c === 2000,
      ),
    ).toBe(2000);
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
