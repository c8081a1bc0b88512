import Stripe from 'stripe';
import type { PaymentsConfig } from './config.ts';

export type { Stripe };

/** Webhook signatures older than this are refused (Stripe's recommended tolerance). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * The official Stripe client, or null when no secret key is configured. STRIPE_API_URL points
 * it at another host (stripe-mock, a test server); telemetry headers are off (no phone-home).
 */
export function createStripeClient(config: Pick<PaymentsConfig, 'STRIPE_SECRET_KEY' | 'STRIPE_API_URL'>): Stripe | null {
  if (!config.STRIPE_SECRET_KEY) return null;
  const api = config.STRIPE_API_URL ? new URL(config.STRIPE_API_URL) : null;
  return new Stripe(config.STRIPE_SECRET_KEY, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    ...(api
      ? {
          host: api.hostname,
          protocol: api.protocol === 'http:' ? 'http' : 'https',
          port: api.port || (api.protocol === 'http:' ? 80 : 443),
        }
      : {}),
  });
}

/** Verifies a webhook's Stripe-Signature on the raw body; throws when it does not match. */
export function verifyWebhook(rawBody: Buffer, signature: string | undefined, secret: string): Stripe.Event {
  if (!signature) throw new Error('missing Stripe-Signature header');
  // The webhooks helper needs no API key; a placeholder client provides it when card payments are off.
  return webhookVerifier.webhooks.constructEvent(rawBody, signature, secret, WEBHOOK_TOLERANCE_SECONDS);
}

const webhookVerifier = new Stripe('sk_webhook_verification_only', { telemetry: false });

/** An expandable Stripe field's id. */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === 'string' ? value : value.id;
}
