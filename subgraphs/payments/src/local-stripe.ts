// A local stand-in for Stripe's test mode: an HTTP server on loopback speaking the few API calls
// payments makes (customers, Checkout and portal sessions, PaymentIntents) to the real `stripe`
// client (STRIPE_API_URL points it here). The tests use it as Stripe's API; `npm start` runs it
// in development when no STRIPE_SECRET_KEY is set, with every PaymentIntent paid a moment after it
// is created and its `payment_intent.succeeded` webhook signed and delivered to the gateway, so a
// card deposit takes the same path as a real one. Never in production.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Stripe from 'stripe';
import { ConfigError, startLocalServer, type LocalServer, type Logger } from '@vibestream/platform';

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  idempotencyKey: string | null;
  authorization: string | null;
}

/** `id` is unique to the request: `test_<n>`, or `test_<run>_<n>` when ids must not repeat across runs. */
type Handler = (params: Record<string, string>, id: string) => Record<string, unknown>;

const PAYMENT_INTENTS = '/v1/payment_intents';

/** Form parameters each route requires, with the value when it is fixed. */
const routes: Record<string, { required: Record<string, string | null>; respond: Handler }> = {
  '/v1/customers': {
    required: { 'metadata[userId]': null },
    respond: (p, id) => ({ id: `cus_${id}`, object: 'customer', metadata: { userId: p['metadata[userId]'] } }),
  },
  '/v1/checkout/sessions': {
    required: {
      mode: 'subscription',
      customer: null,
      client_reference_id: null,
      'line_items[0][price]': null,
      'line_items[0][quantity]': '1',
      success_url: null,
      cancel_url: null,
      'metadata[planId]': null,
      'subscription_data[metadata][userId]': null,
    },
    respond: (p, id) => ({
      id: `cs_${id}`,
      object: 'checkout.session',
      mode: 'subscription',
      customer: p.customer,
      client_reference_id: p.client_reference_id,
      url: `https://checkout.stripe.test/c/pay/cs_${id}`,
    }),
  },
  '/v1/billing_portal/sessions': {
    required: { customer: null, return_url: null },
    respond: (p, id) => ({ id: `bps_${id}`, object: 'billing_portal.session', customer: p.customer, url: `https://billing.stripe.test/p/session/bps_${id}` }),
  },
  [PAYMENT_INTENTS]: {
    required: {
      amount: null,
      currency: 'usd',
      customer: null,
      'metadata[depositId]': null,
      'metadata[userId]': null,
      'automatic_payment_methods[enabled]': 'true',
    },
    respond: (p, id) => ({
      id: `pi_${id}`,
      object: 'payment_intent',
      amount: Number(p.amount),
      currency: p.currency,
      customer: p.customer,
      status: 'requires_payment_method',
      client_secret: `pi_${id}_secret_${randomBytes(8).toString('hex')}`,
      metadata: { depositId: p['metadata[depositId]'], userId: p['metadata[userId]'] },
    }),
  },
};

/** Pays every new PaymentIntent after `afterMs` and delivers its signed `payment_intent.succeeded` to `webhookUrl`. */
export interface AutoPay {
  webhookUrl: string;
  webhookSecret: string;
  /** The customer's moment at the card form (default 1000 ms): the deposit is recorded by then. */
  afterMs?: number;
  log?: Logger;
}

/** Webhook delivery retries: Stripe retries for days; here for about a minute. */
const DELIVERY_BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000];

/**
 * Stripe's API on a loopback port. It refuses a request without an Idempotency-Key, with another
 * secret key, or without a route's required form parameters, the way Stripe answers (400
 * invalid_request_error), and replays the first answer for a repeated Idempotency-Key. With
 * `autoPay`, each new PaymentIntent succeeds as if paid with a test card.
 */
export class StripeApiStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly byKey = new Map<string, Record<string, unknown>>();
  private readonly secretKey: string;
  private readonly autoPay: AutoPay | undefined;
  private readonly idTag: string;
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: LocalServer | null = null;
  private counter = 0;
  private stopped = false;
  url = '';

  /** `uniqueIds`: object ids carry a tag of this instance, so a new run never repeats an earlier one's. */
  constructor(secretKey: string, options: { autoPay?: AutoPay; uniqueIds?: boolean } = {}) {
    this.secretKey = secretKey;
    this.autoPay = options.autoPay;
    this.idTag = options.uniqueIds ? `test_${randomBytes(4).toString('hex')}_` : 'test_';
  }

  async start(): Promise<string> {
    this.server = await startLocalServer((req, res) => this.handle(req, res));
    this.url = this.server.url;
    return this.url;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.server?.stop();
  }

  to(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0]!;
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const idempotencyKey = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const authorization = (req.headers.authorization as string | undefined) ?? null;
    this.requests.push({ method: req.method ?? '', path, params, idempotencyKey, authorization });
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${this.counter}` }).end(JSON.stringify(body));
    };
    const invalid = (message: string, param?: string): void => send(400, { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } });

    if (authorization !== `Bearer ${this.secretKey}`) return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    const route = routes[path];
    if (req.method !== 'POST' || !route)
      return send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path})` } });
    if (!idempotencyKey) return invalid('This stand-in requires an Idempotency-Key on every POST');
    for (const [name, fixed] of Object.entries(route.required)) {
      if (!(name in params) || params[name] === '') return invalid(`Missing required param: ${name}.`, name);
      if (fixed !== null && params[name] !== fixed) return invalid(`Invalid value for ${name}: ${params[name]}`, name);
    }
    const replayKey = `${path} ${idempotencyKey}`;
    const known = this.byKey.get(replayKey);
    if (known) return send(200, known);
    const body = route.respond(params, `${this.idTag}${++this.counter}`);
    this.byKey.set(replayKey, body);
    send(200, body);
    if (path === PAYMENT_INTENTS && this.autoPay) this.later(this.autoPay.afterMs ?? 1_000, () => this.pay(body, 0));
  }

  private later(ms: number, run: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, ms);
    this.timers.add(timer);
  }

  /** Delivers the intent's success as Stripe does: signed, retried until answered 2xx. */
  private async pay(intent: Record<string, unknown>, attempt: number): Promise<void> {
    const { webhookUrl, webhookSecret, log } = this.autoPay!;
    const paid = { ...intent, status: 'succeeded', amount_received: intent.amount };
    const event = stripeEvent('payment_intent.succeeded', paid, Math.floor(Date.now() / 1000), `evt_local_${intent.id as string}`);
    const { body, signature } = signedWebhook(event, webhookSecret);
    let problem: string;
    try {
      const response = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
      await response.body?.cancel();
      if (response.ok) {
        log?.info({ paymentIntent: intent.id, amountCents: intent.amount }, 'local Stripe: card payment succeeded, webhook delivered');
        return;
      }
      problem = `answered ${response.status}`;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    if (this.stopped) return;
    const wait = DELIVERY_BACKOFF_MS[attempt];
    if (wait === undefined) {
      log?.error({ paymentIntent: intent.id, webhookUrl, problem }, 'local Stripe: gave up delivering payment_intent.succeeded');
      return;
    }
    log?.warn({ paymentIntent: intent.id, webhookUrl, problem, retryInMs: wait }, 'local Stripe: webhook delivery failed; retrying');
    this.later(wait, () => this.pay(intent, attempt + 1));
  }
}

/** Signs webhook payloads as Stripe does (stripe.webhooks.generateTestHeaderString). */
export function signedWebhook(event: Record<string, unknown>, secret: string, timestamp?: number): { body: string; signature: string } {
  const body = JSON.stringify(event);
  const signature = new Stripe('sk_test_signing', { telemetry: false }).webhooks.generateTestHeaderString({
    payload: body,
    secret,
    ...(timestamp !== undefined ? { timestamp } : {}),
  });
  return { body, signature };
}

let eventCounter = 0;

/** A Stripe event envelope around an API object. `created` is the event's time in seconds. */
export function stripeEvent(type: string, object: Record<string, unknown>, created: number, id = `evt_test_${++eventCounter}_${Date.now()}`) {
  return {
    id,
    object: 'event',
    api_version: '2026-10-28.endive',
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

export interface LocalStripe {
  /** What payments needs to use it: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_URL. */
  env: { STRIPE_SECRET_KEY: string; STRIPE_WEBHOOK_SECRET: string; STRIPE_API_URL: string };
  stop(): Promise<void>;
}

/**
 * Development only: the stand-in with automatic payment, a fresh secret key and webhook secret
 * for this run, delivering to `webhookUrl` (the gateway's /webhooks/stripe). Refused when
 * NODE_ENV is production.
 */
export async function startLocalStripe(options: { nodeEnv: string | undefined; webhookUrl: string; log: Logger; payAfterMs?: number }): Promise<LocalStripe> {
  if (options.nodeEnv === 'production') throw new ConfigError(['LOCAL_STRIPE: the local Stripe stand-in is for development and cannot run in production']);
  const secretKey = `sk_test_local_${randomBytes(12).toString('hex')}`;
  const webhookSecret = `whsec_local_${randomBytes(24).toString('hex')}`;
  const standIn = new StripeApiStandIn(secretKey, {
    uniqueIds: true,
    autoPay: { webhookUrl: options.webhookUrl, webhookSecret, log: options.log, ...(options.payAfterMs !== undefined ? { afterMs: options.payAfterMs } : {}) },
  });
  const url = await standIn.start();
  options.log.info({ url }, 'local Stripe stand-in running (no STRIPE_SECRET_KEY set): card payments succeed a moment after they start');
  return { env: { STRIPE_SECRET_KEY: secretKey, STRIPE_WEBHOOK_SECRET: webhookSecret, STRIPE_API_URL: url }, stop: () => standIn.stop() };
}
