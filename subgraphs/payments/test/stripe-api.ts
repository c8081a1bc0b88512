import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLocalServer, type LocalServer } from './local-server.ts';
import Stripe from 'stripe';

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  idempotencyKey: string | null;
  authorization: string | null;
}

type Handler = (params: Record<string, string>, n: number) => Record<string, unknown>;

/** Form parameters each route requires, with the value when it is fixed. */
const routes: Record<string, { required: Record<string, string | null>; respond: Handler }> = {
  '/v1/customers': {
    required: { 'metadata[userId]': null },
    respond: (p, n) => ({ id: `cus_test_${n}`, object: 'customer', metadata: { userId: p['metadata[userId]'] } }),
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
    respond: (p, n) => ({
      id: `cs_test_${n}`,
      object: 'checkout.session',
      mode: 'subscription',
      customer: p.customer,
      client_reference_id: p.client_reference_id,
      url: `https://checkout.stripe.test/c/pay/cs_test_${n}`,
    }),
  },
  '/v1/billing_portal/sessions': {
    required: { customer: null, return_url: null },
    respond: (p, n) => ({ id: `bps_test_${n}`, object: 'billing_portal.session', customer: p.customer, url: `https://billing.stripe.test/p/session/bps_test_${n}` }),
  },
  '/v1/payment_intents': {
    required: { amount: null, currency: 'usd', customer: null, 'metadata[depositId]': null, 'metadata[userId]': null, 'automatic_payment_methods[enabled]': 'true' },
    respond: (p, n) => ({
      id: `pi_test_${n}`,
      object: 'payment_intent',
      amount: Number(p.amount),
      currency: p.currency,
      customer: p.customer,
      status: 'requires_payment_method',
      client_secret: `pi_test_${n}_secret_${n}${n}`,
      metadata: { depositId: p['metadata[depositId]'], userId: p['metadata[userId]'] },
    }),
  },
};

/**
 * A local stand-in for api.stripe.com (STRIPE_API_URL points the real `stripe` client at it). It
 * refuses a request without an Idempotency-Key, with another secret key, or without a route's
 * required form parameters, the way Stripe answers (400 invalid_request_error), and replays the
 * first answer for a repeated Idempotency-Key.
 */
export class StripeApiStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly byKey = new Map<string, Record<string, unknown>>();
  private readonly secretKey: string;
  private server: LocalServer | null = null;
  private counter = 0;
  url = '';

  constructor(secretKey: string) {
    this.secretKey = secretKey;
  }

  async start(): Promise<string> {
    this.server = await startLocalServer((req, res) => this.handle(req, res));
    this.url = this.server.url;
    return this.url;
  }

  async stop(): Promise<void> {
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
    if (req.method !== 'POST' || !route) return send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${path})` } });
    if (!idempotencyKey) return invalid('This stand-in requires an Idempotency-Key on every POST');
    for (const [name, fixed] of Object.entries(route.required)) {
      if (!(name in params) || params[name] === '') return invalid(`Missing required param: ${name}.`, name);
      if (fixed !== null && params[name] !== fixed) return invalid(`Invalid value for ${name}: ${params[name]}`, name);
    }
    const replayKey = `${path} ${idempotencyKey}`;
    const known = this.byKey.get(replayKey);
    if (known) return send(200, known);
    const body = route.respond(params, ++this.counter);
    this.byKey.set(replayKey, body);
    send(200, body);
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
  return { id, object: 'event', api_version: '2026-10-28.endive', created, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object } };
}
