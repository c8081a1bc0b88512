// Web Push rules, pure: what a browser's PushSubscription must look like to be kept, what a push
// message says, and what a push service's answer means for the subscription and the job.
import { createECDH } from 'node:crypto';
import { isIP } from 'node:net';
import type { NotificationKind } from './notifications.ts';

/** The longest endpoint kept (browsers' push services use well under 300 characters). */
export const MAX_ENDPOINT_LENGTH = 1024;
/** Subscriptions one user may keep (one per browser profile and device). */
export const MAX_PUSH_SUBSCRIPTIONS_PER_USER = 20;
/** How long a push service keeps a message for an offline browser (RFC 8030 TTL), in seconds. */
export const PUSH_TTL_SECONDS = 24 * 60 * 60;
/** A push message's title and body are cut to these lengths (the encrypted body must stay under 4096 bytes). */
export const MAX_PUSH_TITLE_LENGTH = 120;
export const MAX_PUSH_BODY_LENGTH = 600;

export interface PushSubscriptionInput {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** A subscription that passed every rule: its endpoint as URL parsing normalised it, and its origin. */
export interface ValidPushSubscription {
  endpoint: string;
  endpointOrigin: string;
  p256dh: string;
  auth: string;
}

/** Why an input was refused, naming the field. */
export class PushSubscriptionRefused extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'PushSubscriptionRefused';
    this.field = field;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Bytes of an unpadded base64url string (a trailing `=` padding is tolerated), or null when it is not one. */
export function base64urlBytes(value: string): Buffer | null {
  const trimmed = value.replace(/={1,2}$/, '');
  if (!BASE64URL.test(trimmed) || trimmed.length % 4 === 1) return null;
  return Buffer.from(trimmed, 'base64url');
}

/** A 65-byte uncompressed point (0x04 ‖ X ‖ Y) that lies on P-256. */
export function isP256PublicKey(bytes: Buffer): boolean {
  if (bytes.length !== 65 || bytes[0] !== 0x04) return false;
  try {
    // A key that is not on the curve cannot be agreed with: computeSecret throws.
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.alloc(32, 1));
    ecdh.computeSecret(bytes);
    return true;
  } catch {
    return false;
  }
}

/** localhost, 127.0.0.0/8 and ::1: where a development push service may run over plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Addresses a production server must never be made to POST to on a client's say-so (SSRF): private, link-local, loopback, unspecified. */
export function isPrivateAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopbackHost(host)) return true;
  const version = isIP(host);
  if (version === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return (
      a === 0 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (version === 6) return host === '::' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host) || host.startsWith('::ffff:');
  return false;
}

/**
 * Checks a browser's subscription as a client sends it. The endpoint must be an https URL of at
 * most 1024 characters, with no credentials; in production its host may not be a private or
 * loopback address; outside production plain http is allowed for a loopback host (a local push
 * service). p256dh must be a P-256 point (65 bytes uncompressed), auth 16 bytes, both base64url.
 */
export function validatePushSubscription(input: PushSubscriptionInput, options: { production: boolean }): ValidPushSubscription {
  const { endpoint, p256dh, auth } = input;
  if (endpoint.length > MAX_ENDPOINT_LENGTH) throw new PushSubscriptionRefused('input.endpoint', `endpoint may be at most ${MAX_ENDPOINT_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new PushSubscriptionRefused('input.endpoint', 'endpoint is not a URL');
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && !options.production)) {
    throw new PushSubscriptionRefused(
      'input.endpoint',
      options.production ? 'endpoint must be an https URL' : 'endpoint must be an https URL (http only for a loopback push service in development)',
    );
  }
  if (url.username || url.password) throw new PushSubscriptionRefused('input.endpoint', 'endpoint may not carry credentials');
  if (options.production && isPrivateAddress(url.hostname)) throw new PushSubscriptionRefused('input.endpoint', 'endpoint may not name a private address');
  if (url.href.length > MAX_ENDPOINT_LENGTH) throw new PushSubscriptionRefused('input.endpoint', `endpoint may be at most ${MAX_ENDPOINT_LENGTH} characters`);

  // 65 bytes are 87 base64url characters and 16 are 22: anything much longer is refused before it is decoded.
  const key = p256dh.length <= 100 ? base64urlBytes(p256dh) : null;
  if (key === null || !isP256PublicKey(key)) {
    throw new PushSubscriptionRefused('input.p256dh', 'p256dh must be an uncompressed P-256 public key (65 bytes), base64url');
  }
  const secret = auth.length <= 40 ? base64urlBytes(auth) : null;
  if (secret === null || secret.length !== 16) throw new PushSubscriptionRefused('input.auth', 'auth must be a 16-byte secret, base64url');
  return { endpoint: url.href, endpointOrigin: url.origin, p256dh: key.toString('base64url'), auth: secret.toString('base64url') };
}

/** RFC 8030 urgency of a push per kind: what a person would want to hear about at once. */
const urgencies: Record<NotificationKind, 'very-low' | 'low' | 'normal' | 'high'> = {
  REWARD_VOUCHER: 'low',
  ORDER_FILLED: 'high',
  REVENUE_PAID: 'normal',
  DEPOSIT_SUCCEEDED: 'normal',
  SUBSCRIPTION_CHANGED: 'normal',
  CAMPAIGN_NFT_MINTED: 'normal',
};
export const pushUrgency = (kind: NotificationKind) => urgencies[kind];

/** What the service worker shows: the text, where a click goes (a path in the web app), and the tag that replaces an earlier copy. */
export interface PushMessage {
  title: string;
  body: string;
  /** A path of the web app (same origin as the service worker). */
  url: string;
  /** The notification's id: a second delivery replaces the first on the device. */
  tag: string;
  kind: NotificationKind;
}

const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export function pushMessage(notification: { id: string; kind: NotificationKind; title: string; body: string }): PushMessage {
  return {
    title: cut(notification.title, MAX_PUSH_TITLE_LENGTH),
    body: cut(notification.body, MAX_PUSH_BODY_LENGTH),
    url: `/notifications?id=${encodeURIComponent(notification.id)}`,
    tag: notification.id,
    kind: notification.kind,
  };
}

/** RFC 8030 Topic (at most 32 base64url characters): the notification's UUID without dashes, so a push service replaces an undelivered copy. */
export const pushTopic = (notificationId: string) => notificationId.replace(/-/g, '');

/**
 * What a push service's answer means: SENT (2xx); GONE, the subscription expired or was
 * unsubscribed (404, 410: delete it); RETRY, try again later (429, 5xx, no answer); REFUSED, the
 * request itself is wrong and sending it again will not help (other 4xx, e.g. 400, 401/403 for a
 * VAPID key the subscription was not made for, 413).
 */
export type PushOutcome = 'SENT' | 'GONE' | 'RETRY' | 'REFUSED';

export function pushOutcome(status: number | null): PushOutcome {
  if (status === null) return 'RETRY';
  if (status >= 200 && status < 300) return 'SENT';
  if (status === 404 || status === 410) return 'GONE';
  if (status === 429 || status === 408 || status >= 500) return 'RETRY';
  return 'REFUSED';
}
