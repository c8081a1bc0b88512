// The local stand-in for Stripe's test mode that `npm start` runs in development: it pays each
// PaymentIntent and delivers a correctly signed payment_intent.succeeded, so a card deposit goes
// the real way (createDeposit -> PaymentIntent -> webhook -> payments.deposit.succeeded.v1 ->
// ownership credits); it is refused in production.
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createLogger, startLocalServer, type LocalServer } from '@vibestream/platform';
import { eventually, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { ownershipSubgraph } from '@vibestream/ownership';
import { paymentsSubgraph } from '../src/index.ts';
import { StripeApiStandIn, startLocalStripe } from '../src/local-stripe.ts';
import { createStripeClient, verifyWebhook } from '../src/stripe.ts';
import { CREATE_DEPOSIT, MY_PAYMENTS, TRADING_ACCOUNT, signUp, type Deposit } from './helpers.ts';

const log = createLogger('local-stripe-test', process.env.TEST_LOG_LEVEL ?? 'silent');

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('startLocalStripe', () => {
  it('is refused in production', async () => {
    await expect(startLocalStripe({ nodeEnv: 'production', webhookUrl: 'http://127.0.0.1:9/webhooks/stripe', log })).rejects.toThrow(ConfigError);
  });

  it('pays each PaymentIntent and delivers its signed payment_intent.succeeded, retried until it is answered 2xx', async () => {
    const deliveries: { body: string; signature: string }[] = [];
    const receiver: LocalServer = await startLocalServer(async (req, res) => {
      deliveries.push({ body: await bodyOf(req), signature: String(req.headers['stripe-signature']) });
      // The first delivery fails, as a gateway not up yet would.
      res.writeHead(deliveries.length === 1 ? 503 : 200).end();
    });
    const local = await startLocalStripe({ nodeEnv: 'development', webhookUrl: `${receiver.url}/webhooks/stripe`, log, payAfterMs: 10 });
    try {
      expect(local.env.STRIPE_SECRET_KEY).toMatch(/^sk_test_local_/);
      expect(local.env.STRIPE_WEBHOOK_SECRET).toMatch(/^whsec_/);
      const stripe = createStripeClient(local.env)!;
      const customer = await stripe.customers.create({ metadata: { userId: 'u1' } }, { idempotencyKey: 'customer-u1' });
      const intent = await stripe.paymentIntents.create(
        { amount: 2500, currency: 'usd', customer: customer.id, metadata: { depositId: 'd1', userId: 'u1' }, automatic_payment_methods: { enabled: true } },
        { idempotencyKey: 'deposit-d1' },
      );
      expect(intent.status).toBe('requires_payment_method');

      await eventually(
        async () => deliveries.length,
        (n) => n >= 2,
        5_000,
      );
      expect(deliveries).toHaveLength(2);
      // Both attempts are one event, which payments' own verification accepts.
      const events = deliveries.map((d) => verifyWebhook(Buffer.from(d.body), d.signature, local.env.STRIPE_WEBHOOK_SECRET));
      expect(events[0]!.id).toBe(events[1]!.id);
      expect(events[0]).toMatchObject({
        type: 'payment_intent.succeeded',
        data: {
          object: { id: intent.id, status: 'succeeded', amount: 2500, amount_received: 2500, currency: 'usd', metadata: { depositId: 'd1', userId: 'u1' } },
        },
      });
      // Another secret does not verify it.
      expect(() => verifyWebhook(Buffer.from(deliveries[0]!.body), deliveries[0]!.signature, 'whsec_other')).toThrow();
    } finally {
      await local.stop();
      await receiver.stop();
    }
  });

  it('gives each run its own object ids, so a restarted stand-in never repeats an id payments stored', async () => {
    const ids = new Set<string>();
    for (let run = 0; run < 2; run++) {
      const local = await startLocalStripe({ nodeEnv: 'development', webhookUrl: 'http://127.0.0.1:9/webhooks/stripe', log, payAfterMs: 60_000 });
      const customer = await createStripeClient(local.env)!.customers.create({ metadata: { userId: 'u1' } }, { idempotencyKey: 'customer-u1' });
      ids.add(customer.id);
      await local.stop();
    }
    expect(ids.size).toBe(2);
  });
});

describe('a card deposit through the gateway, paid by the stand-in', () => {
  const SECRET_KEY = 'sk_test_local_deposits';
  const WEBHOOK_SECRET = 'whsec_local_deposits';
  let stack: TestStack;
  let standIn: StripeApiStandIn;

  beforeAll(async () => {
    let gatewayUrl = '';
    // The webhook goes to the gateway, whose address is known once the stack runs.
    standIn = new StripeApiStandIn(SECRET_KEY, {
      uniqueIds: true,
      autoPay: {
        get webhookUrl() {
          return `${gatewayUrl}/webhooks/stripe`;
        },
        webhookSecret: WEBHOOK_SECRET,
        afterMs: 200,
      },
    });
    await standIn.start();
    stack = await startTestStack('local-stripe', [identitySubgraph, paymentsSubgraph, ownershipSubgraph], {
      STRIPE_SECRET_KEY: SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_URL: standIn.url,
    });
    gatewayUrl = stack.publicUrl;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await standIn?.stop();
  });

  it('succeeds and credits the trading account once', async () => {
    const fan = await signUp(stack, 'FAN', 'Local Card');
    const created = await stack.gql<{ createDeposit: Deposit }>(CREATE_DEPOSIT, { amountCents: 5000, method: 'CARD' }, { token: fan.token });
    expect(created.data?.createDeposit).toMatchObject({ status: 'PENDING', method: 'CARD', amountCents: 5000 });
    const cash = () =>
      stack
        .gql<{ me: { tradingAccount: { cashCents: number } | null } }>(TRADING_ACCOUNT, {}, { token: fan.token })
        .then((r) => r.data?.me.tradingAccount?.cashCents ?? 0);
    expect(await eventually(cash, (c) => c === 5000, 15_000)).toBe(5000);
    const payments = await stack.gql<{ me: { payments: { edges: { node: { id: string; status: string } }[] } } }>(MY_PAYMENTS, {}, { token: fan.token });
    expect(payments.data!.me.payments.edges.map((e) => e.node)).toEqual([expect.objectContaining({ id: created.data!.createDeposit.id, status: 'SUCCEEDED' })]);
  });
});
