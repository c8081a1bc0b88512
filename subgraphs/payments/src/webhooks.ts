import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type HttpRoute, type Logger } from '@vibestream/platform';
import type { PaymentsService } from './service.ts';
import { verifyWebhook, type Stripe } from './stripe.ts';

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';
const MAX_WEBHOOK_BYTES = 1_048_576;

async function rawBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_WEBHOOK_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * POST /webhooks/stripe (forwarded by the gateway with the body untouched): verifies the
 * signature on the raw bytes, applies the event in one transaction with its id, and answers 2xx
 * once that transaction committed. A bad or missing signature is 400 and changes nothing.
 */
export function stripeWebhookRoute(options: { secret: string | undefined; service: PaymentsService; log: Logger }): HttpRoute {
  const { secret, service, log } = options;
  return {
    method: 'POST',
    path: STRIPE_WEBHOOK_PATH,
    handle: async (req: IncomingMessage, res: ServerResponse) => {
      if (!secret) return sendJson(res, 503, { error: 'Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)' });
      const body = await rawBody(req);
      if (!body) return sendJson(res, 413, { error: 'payload too large' });
      const header = req.headers['stripe-signature'];
      let event: Stripe.Event;
      try {
        event = verifyWebhook(body, Array.isArray(header) ? header[0] : header, secret);
      } catch (error) {
        log.warn({ err: (error as Error).message }, 'Stripe webhook refused: bad signature');
        return sendJson(res, 400, { error: 'invalid signature' });
      }
      const applied = await service.applyStripeEvent(event);
      log.info({ eventId: event.id, type: event.type, duplicate: !applied }, 'Stripe webhook handled');
      sendJson(res, 200, { received: true, duplicate: !applied });
    },
  };
}
