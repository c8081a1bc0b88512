import { randomUUID } from 'node:crypto';
import {
  badInput,
  enqueueJob,
  requireAuth,
  type EventEnvelope,
  type LiveEvents,
  type Logger,
  type Persistence,
  type Principal,
  type Session,
  type Tx,
} from '@vibestream/platform';
import { channelChangesProblem, channelGrid, planDelivery, settingKey, type ChannelSetting, type DeliveryChannel } from './domain/channels.ts';
import { verifyUnsubscribeToken } from './domain/unsubscribe-token.ts';
import { deliveryJobKey, deliveryJobKinds, type DeliveryPayload } from './deliveries.ts';
import { liveTopics } from './events.ts';
import { notificationKinds, sourceKey, type NotificationDraft, type NotificationFacts, type NotificationKind } from './domain/notifications.ts';
import * as store from './store.ts';
import type { NotificationRow } from './store.ts';

export type { NotificationRow } from './store.ts';

export interface PreferencesModel {
  kinds: { kind: NotificationKind; enabled: boolean }[];
}

export const MAX_MARK_READ_IDS = 500;

export const factsOf = (row: NotificationRow): NotificationFacts => ({ ...row.data, kind: row.kind }) as NotificationFacts;

/** Every kind with its setting; kinds the user never changed are enabled. */
export function preferencesFrom(changed: Map<NotificationKind, boolean>): PreferencesModel {
  return { kinds: notificationKinds.map((kind) => ({ kind, enabled: changed.get(kind) ?? true })) };
}

/** notifications' use cases: each change runs through `db.useCase` (or in a consumer's Tx); the SQL is in store.ts. */
export class NotificationsService {
  private readonly db: Persistence;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  /** Notifications a consumer transaction created, published once that transaction commits. */
  private readonly pending = new WeakMap<EventEnvelope, NotificationRow>();

  /** The delivery channels this process has a sender for (deliveries.ts): only those are queued. */
  private readonly senders: ReadonlySet<DeliveryChannel>;
  /** The key of email unsubscribe tokens; without it unsubscribeEmail refuses every token. */
  private readonly unsubscribeSecret: string | null;

  constructor(deps: { db: Persistence; live: LiveEvents; log: Logger; senders?: Iterable<DeliveryChannel>; unsubscribeSecret?: string }) {
    this.db = deps.db;
    this.live = deps.live;
    this.log = deps.log;
    this.senders = new Set(deps.senders ?? []);
    this.unsubscribeSecret = deps.unsubscribeSecret ?? null;
  }

  /**
   * Keeps a notification for an event, inside the consumer's transaction: nothing when the user
   * disabled its kind, nothing when the same business event was already kept.
   */
  async receive(tx: Tx, envelope: EventEnvelope, draft: NotificationDraft): Promise<NotificationRow | null> {
    const { kind, ...data } = draft.facts;
    const settings = await store.channelSettingsOf(tx, draft.userId, kind);
    // PUSH only for a user with a browser subscribed (a push job for nobody would only be skipped).
    const push = (settings.get('PUSH') ?? true) && this.senders.has('PUSH') && (await store.hasPushSubscription(tx, draft.userId));
    const plan = planDelivery({ inApp: settings.get('IN_APP') ?? true, email: settings.get('EMAIL') ?? true, push }, this.senders);
    if (!plan.keep) return null;
    const row = await store.insertNotification(tx, {
      id: randomUUID(),
      userId: draft.userId,
      kind,
      sourceKey: sourceKey(draft.facts),
      songId: draft.songId,
      data,
      occurredAt: draft.occurredAt,
      inApp: plan.inApp,
    });
    // Already kept (the same business event again): its deliveries were queued with it.
    if (!row) return null;
    for (const channel of plan.deliver) {
      const payload: DeliveryPayload = { notificationId: row.id, userId: row.user_id, kind, channel };
      // Keyed by notification and channel: enqueued at most once, whatever delivers the event again.
      await enqueueJob(tx, { kind: deliveryJobKinds[channel], key: deliveryJobKey(row.id, channel), payload });
    }
    if (plan.inApp) this.pending.set(envelope, row);
    return row;
  }

  /** After the consumer's commit: pushes the notification the event created, if any. */
  published(envelope: EventEnvelope): void {
    const row = this.pending.get(envelope);
    if (!row) return;
    this.pending.delete(envelope);
    this.live
      .publish(liveTopics.notificationAdded(row.user_id), { id: row.id, kind: row.kind, occurredAt: new Date(row.created_at).toISOString() })
      .catch((error: unknown) => this.log.warn({ err: error, notificationId: row.id }, 'live notification not published'));
  }

  /** Marks the caller's own unread notifications among `ids` (parsed ids) read; answers how many changed. */
  async markRead(principal: Principal | null, ids: readonly string[]): Promise<number> {
    const p = requireAuth(principal);
    if (ids.length > MAX_MARK_READ_IDS) throw badInput(`ids may name at most ${MAX_MARK_READ_IDS} notifications`, 'ids');
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    if (unique.length === 0) return 0;
    return this.db.useCase((tx) => store.markRead(tx, p.userId, unique));
  }

  async markAllRead(principal: Principal | null): Promise<number> {
    const p = requireAuth(principal);
    return this.db.useCase((tx) => store.markAllRead(tx, p.userId));
  }

  async updatePreferences(principal: Principal | null, input: { kinds: readonly { kind: NotificationKind; enabled: boolean }[] }): Promise<PreferencesModel> {
    const p = requireAuth(principal);
    const seen = new Set<NotificationKind>();
    for (const { kind } of input.kinds) {
      if (seen.has(kind)) throw badInput(`input.kinds lists ${kind} more than once`, 'input.kinds');
      seen.add(kind);
    }
    return this.db.useCase(async (tx) => {
      await store.upsertPreferences(tx, p.userId, input.kinds);
      const rows = await store.preferencesByUser(tx, [p.userId]);
      return preferencesFrom(new Map(rows.map((r) => [r.kind, r.enabled])));
    });
  }

  // ---- Channels (IN_APP, EMAIL, PUSH) ----

  /** Every kind on every channel for the user (reads for the resolvers go through the loaders; this one for the answer of a change). */
  async channelsOf(db: Session, userId: string): Promise<ChannelSetting[]> {
    const [inApp, others] = await Promise.all([store.preferencesByUser(db, [userId]), store.channelPreferencesByUser(db, [userId])]);
    return channelGrid(channelSettingsMap(inApp, others));
  }

  /**
   * The caller's own channel settings: only the (kind, channel) pairs listed change; IN_APP is the
   * kind's `enabled` of notificationPreferences. Answers every kind on every channel.
   */
  async updateChannels(
    principal: Principal | null,
    input: readonly { kind: NotificationKind; channel: ChannelSetting['channel']; enabled: boolean }[],
  ): Promise<ChannelSetting[]> {
    const p = requireAuth(principal);
    const problem = channelChangesProblem(input);
    if (problem) throw badInput(problem, 'input');
    return this.db.useCase(async (tx) => {
      await store.upsertPreferences(
        tx,
        p.userId,
        input.filter((c) => c.channel === 'IN_APP'),
      );
      await store.upsertChannelPreferences(
        tx,
        p.userId,
        input.flatMap((c) => (c.channel === 'IN_APP' ? [] : [{ kind: c.kind, channel: c.channel, enabled: c.enabled }])),
      );
      return this.channelsOf(tx, p.userId);
    });
  }

  /**
   * Turns off the EMAIL channel of the kind an unsubscribe token names, for the user it names; no
   * sign-in needed (the token is the proof). BAD_USER_INPUT for a token this server did not sign.
   * Idempotent: the same link again answers true.
   */
  async unsubscribeEmail(token: string): Promise<boolean> {
    const claim = this.unsubscribeSecret ? await verifyUnsubscribeToken(this.unsubscribeSecret, token) : null;
    if (!claim) throw badInput('This unsubscribe link is not valid', 'token');
    await this.db.useCase((tx) => store.upsertChannelPreferences(tx, claim.userId, [{ kind: claim.kind, channel: 'EMAIL', enabled: false }]));
    this.log.info({ userId: claim.userId, kind: claim.kind }, 'email unsubscribed');
    return true;
  }
}

/** One user's settings as `<kind>:<channel>` -> enabled: IN_APP from the kind preferences, EMAIL and PUSH from the channel preferences. */
export function channelSettingsMap(
  inApp: readonly { kind: NotificationKind; enabled: boolean }[],
  others: readonly { kind: NotificationKind; channel: DeliveryChannel; enabled: boolean }[],
): Map<string, boolean> {
  return new Map([
    ...inApp.map((r) => [settingKey(r.kind, 'IN_APP'), r.enabled] as const),
    ...others.map((r) => [settingKey(r.kind, r.channel), r.enabled] as const),
  ]);
}
