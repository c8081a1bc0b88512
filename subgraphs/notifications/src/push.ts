// Web Push: browsers' subscriptions (register, remove, list) and the PUSH channel's delivery job.
// A push request is built by the `web-push` library (RFC 8291 aes128gcm encryption of the
// payload with the subscription's keys, an RFC 8292 VAPID JWT signed with our key, RFC 8030
// TTL / Urgency / Topic headers) and sent here with node:http(s): web-push's own sender speaks
// only https (a development push service on loopback is plain http) and cannot refuse an endpoint
// whose name resolves to a private address. The rules are in domain/push-subscription.ts, the SQL
// in store.ts.
import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import webpush from 'web-push';
import {
  badInput,
  forbidden,
  PermanentJobError,
  requireAuth,
  SkipJobError,
  z,
  type JobHandler,
  type Logger,
  type Persistence,
  type Principal,
} from '@vibestream/platform';
import { renderNotification } from './domain/notifications.ts';
import {
  MAX_PUSH_SUBSCRIPTIONS_PER_USER,
  PUSH_TTL_SECONDS,
  pushMessage,
  pushOutcome,
  pushTopic,
  pushUrgency,
  PushSubscriptionRefused,
  isPrivateAddress,
  validatePushSubscription,
  type PushMessage,
  type PushSubscriptionInput,
} from './domain/push-subscription.ts';
import { channelEnabled } from './deliveries.ts';
import type { VapidKeys } from './push-config.ts';
import { factsOf } from './service.ts';
import * as store from './store.ts';
import type { PushSubscriptionRow } from './store.ts';

export type { PushSubscriptionRow } from './store.ts';

/**
 * What the `notification.push` job (deliveries.ts: one per notification, keyed `<id>:PUSH`) needs:
 * the notification, and the user it was queued for.
 */
const PushJobPayload = z.object({ notificationId: z.uuid(), userId: z.uuid().optional() });

/** Subscriptions' use cases: each change through `db.useCase`. */
export class PushSubscriptions {
  private readonly db: Persistence;
  private readonly production: boolean;
  readonly publicKey: string;

  constructor(deps: { db: Persistence; production: boolean; publicKey: string }) {
    this.db = deps.db;
    this.production = deps.production;
    this.publicKey = deps.publicKey;
  }

  /**
   * Keeps the caller's browser subscription. The same endpoint again answers the same
   * subscription; an endpoint another user registered moves to the caller (one browser, one
   * owner). At most MAX_PUSH_SUBSCRIPTIONS_PER_USER per user, checked under a per-user lock so
   * concurrent registrations cannot pass it together.
   */
  async register(principal: Principal | null, input: PushSubscriptionInput): Promise<PushSubscriptionRow> {
    const p = requireAuth(principal);
    let valid: ReturnType<typeof validatePushSubscription>;
    try {
      valid = validatePushSubscription(input, { production: this.production });
    } catch (error) {
      if (error instanceof PushSubscriptionRefused) throw badInput(error.message, error.field);
      throw error;
    }
    return this.db.useCase(async (tx) => {
      await store.lockPushSubscriptionsOf(tx, p.userId);
      if ((await store.countPushSubscriptions(tx, p.userId, valid.endpoint)) >= MAX_PUSH_SUBSCRIPTIONS_PER_USER) {
        throw badInput(`An account keeps at most ${MAX_PUSH_SUBSCRIPTIONS_PER_USER} push subscriptions: remove one first`, 'input.endpoint');
      }
      return store.upsertPushSubscription(tx, { id: randomUUID(), userId: p.userId, ...valid });
    });
  }

  /** Removes one of the caller's own subscriptions (`id` parsed); false when the caller has none with that id. */
  async remove(principal: Principal | null, id: string): Promise<boolean> {
    const p = requireAuth(principal);
    return this.db.useCase((tx) => store.deleteOwnPushSubscription(tx, p.userId, id));
  }

  /** Who may list a user's subscriptions: that user alone. */
  static assertOwn(principal: Principal | null, userId: string): void {
    const p = requireAuth(principal);
    if (p.userId !== userId.toLowerCase()) throw forbidden('Push subscriptions are visible only to their user');
  }
}

/** What a push service answered one request: its status, or null when none came (network error, timeout). */
export interface PushAttempt {
  status: number | null;
  error?: string;
  /** The request could not even be built (web-push refused the keys or payload): sending it again will not help. */
  unsendable?: true;
}

export interface PushSender {
  send(
    subscription: { endpoint: string; p256dh: string; auth: string },
    message: PushMessage,
    headers: { urgency: ReturnType<typeof pushUrgency>; topic: string },
  ): Promise<PushAttempt>;
}

/**
 * A DNS lookup for push requests that, in production, refuses a host name resolving to a private,
 * loopback or link-local address: the endpoint is a client's choice, and the address checked is
 * the one connected to (a name re-pointed after registration is caught too).
 */
export function publicOnlyLookup(production: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, options, (error, address, family) => {
      if (error) return callback(error, address, family);
      const addresses = Array.isArray(address) ? address.map((a: LookupAddress) => a.address) : [address];
      if (production && addresses.some((a) => isPrivateAddress(a))) {
        return callback(Object.assign(new Error(`${hostname} resolves to a private address`), { code: 'EPRIVATEADDRESS' }), address, family);
      }
      callback(null, address, family);
    });
  };
}

/** POSTs one push request and answers the status; no redirect is followed and the answer's body is not read. */
function post(endpoint: string, headers: Record<string, string>, body: Buffer | null, options: { timeoutMs: number; lookup: LookupFunction }): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(endpoint);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: 'POST', headers, lookup: options.lookup, timeout: options.timeoutMs }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/**
 * Sends push messages signed with `vapid`, each request bounded by `timeoutMs`; in production
 * never to a private address (see publicOnlyLookup).
 */
export function createPushSender(vapid: VapidKeys, options: { timeoutMs: number; production?: boolean }): PushSender {
  const lookup = publicOnlyLookup(options.production ?? false);
  return {
    async send(subscription, message, headers) {
      let details: ReturnType<typeof webpush.generateRequestDetails>;
      try {
        details = webpush.generateRequestDetails(
          { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
          JSON.stringify(message),
          {
            vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
            contentEncoding: 'aes128gcm',
            TTL: PUSH_TTL_SECONDS,
            urgency: headers.urgency,
            topic: headers.topic,
          },
        );
      } catch (error) {
        return { status: null, error: error instanceof Error ? error.message : String(error), unsendable: true };
      }
      const requestHeaders = Object.fromEntries(Object.entries(details.headers).map(([name, value]) => [name, String(value)]));
      try {
        return { status: await post(details.endpoint, requestHeaders, details.body ?? null, { timeoutMs: options.timeoutMs, lookup }) };
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        return (error as { code?: string }).code === 'EPRIVATEADDRESS' ? { status: null, error: text, unsendable: true } : { status: null, error: text };
      }
    },
  };
}

/**
 * The `notification.push` job: the notification's title, body, link and tag, encrypted for each
 * of its user's subscriptions not yet sent it, with TTL, urgency (by kind) and the notification
 * as Topic. A subscription the push service calls gone (404, 410) is deleted; one that refuses
 * the request (other 4xx) is noted and not tried again; when any answered 429 or 5xx or did not
 * answer, the job throws and is retried later, for those subscriptions only.
 */
export function pushJobHandler(deps: {
  db: Persistence;
  sender: PushSender;
  rewardToken: { decimals: number; symbol: string | null };
  log: Logger;
}): JobHandler {
  const { db, sender, rewardToken, log } = deps;
  return async (payload: unknown) => {
    const parsed = PushJobPayload.safeParse(payload);
    if (!parsed.success) throw new PermanentJobError('a notification.push job needs { notificationId }');
    const { notificationId } = parsed.data;
    const reader = db.reader();
    const [notification] = await store.notificationsByIds(reader, [notificationId]);
    if (!notification) throw new SkipJobError('the notification no longer exists');
    if (parsed.data.userId && parsed.data.userId.toLowerCase() !== notification.user_id) throw new SkipJobError("the notification is not this user's");
    // The user may have turned PUSH off for this kind since the job was queued.
    if (!(await channelEnabled(reader, notification.user_id, notification.kind, 'PUSH'))) throw new SkipJobError('push is off for this kind');
    const subscriptions = await store.pushSubscriptionsToSend(reader, notification.user_id, notification.id);
    if (subscriptions.length === 0) {
      if ((await store.countPushDeliveries(reader, notification.id)) > 0) return;
      throw new SkipJobError('the user has no push subscription');
    }
    const songTitle = notification.song_id ? ((await store.songTitles(reader, [notification.song_id])).get(notification.song_id) ?? null) : null;
    const rendered = renderNotification(factsOf(notification), { songTitle, rewardToken });
    const message = pushMessage({ id: notification.id, kind: notification.kind, ...rendered });
    const headers = { urgency: pushUrgency(notification.kind), topic: pushTopic(notification.id) };

    const attempts = await Promise.all(
      subscriptions.map(async (subscription) => ({ subscription, attempt: await sender.send(subscription, message, headers) })),
    );
    const retry: string[] = [];
    let sent = 0;
    let refused = 0;
    for (const { subscription, attempt } of attempts) {
      const outcome = attempt.unsendable ? 'REFUSED' : pushOutcome(attempt.status);
      const about = { notificationId: notification.id, subscriptionId: subscription.id, endpointOrigin: subscription.endpoint_origin, status: attempt.status };
      if (outcome === 'SENT') {
        sent++;
        await db.useCase((tx) =>
          store.recordPushDelivery(tx, { notificationId: notification.id, subscriptionId: subscription.id, outcome, status: attempt.status }),
        );
      } else if (outcome === 'GONE') {
        await db.useCase((tx) => store.deleteGonePushSubscription(tx, subscription));
        log.info(about, 'push subscription gone: deleted');
      } else if (outcome === 'REFUSED') {
        refused++;
        await db.useCase((tx) =>
          store.recordPushDelivery(tx, { notificationId: notification.id, subscriptionId: subscription.id, outcome, status: attempt.status }),
        );
        log.warn(about, 'push service refused the request');
      } else {
        retry.push(`${subscription.endpoint_origin}: ${attempt.status ?? attempt.error ?? 'no answer'}`);
      }
    }
    if (retry.length > 0)
      throw new Error(`push to ${retry.length} of ${subscriptions.length} subscriptions failed for now (${retry.join('; ').slice(0, 300)})`);
    // Nothing reached a browser: dead when a push service refused it, skipped when every subscription was gone.
    if (sent === 0 && refused > 0) throw new PermanentJobError(`no push service took the message (${refused} refused it)`);
    if (sent === 0 && (await store.countPushDeliveries(reader, notification.id)) === 0) throw new SkipJobError('every push subscription was gone');
  };
}
