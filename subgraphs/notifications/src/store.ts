import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';
import { notificationKinds, type NotificationKind } from './domain/notifications.ts';

/**
 * notifications' SQL, all of it: each function one statement with bound parameters, each row
 * parsed. Reads take any Session; writes take the Tx of a use case or an event handler.
 */

/** Timestamps arrive as PostgreSQL prints them; the resolvers and cursors read them as such. */
const timestamp = z.string();
const kind = z.enum(notificationKinds);

/** A row of `notifications`, as the resolvers read it. */
export const NotificationRow = z.object({
  id: z.string(),
  user_id: z.string(),
  kind,
  source_key: z.string(),
  song_id: z.string().nullable(),
  /** The facts without `kind` (see NotificationFacts). */
  data: z.record(z.string(), z.unknown()),
  created_at: timestamp,
  read_at: timestamp.nullable(),
  seq: z.string(),
  /** False: kept only for its email or push (the kind's IN_APP is off); never listed, counted or pushed live. */
  in_app: z.boolean(),
});
export type NotificationRow = z.output<typeof NotificationRow>;

const Preference = z.object({ user_id: z.string(), kind, enabled: z.boolean() });
const Count = z.object({ user_id: z.string(), n: z.number() });
const Id = z.object({ id: z.string() });

const list = (values: readonly string[]) => sql.join(values);

// ---- Songs (catalog.song.published.v1) ----

export async function upsertSong(tx: Tx, song: { songId: string; title: string }): Promise<void> {
  await exec(tx, sql`insert into songs (song_id, title) values (${song.songId}, ${song.title}) on conflict (song_id) do update set title = excluded.title`);
}

export async function songTitles(db: Session, songIds: readonly string[]): Promise<Map<string, string>> {
  const found = await rows(db, z.object({ song_id: z.string(), title: z.string() }), sql`select song_id, title from songs where song_id in (${list(songIds)})`);
  return new Map(found.map((r) => [r.song_id, r.title]));
}

// ---- Notifications ----

/** Inserts the notification of one business event; undefined when that event was already kept. */
export async function insertNotification(
  tx: Tx,
  n: {
    id: string;
    userId: string;
    kind: NotificationKind;
    sourceKey: string;
    songId: string | null;
    data: Record<string, unknown>;
    occurredAt: string;
    inApp?: boolean;
  },
): Promise<NotificationRow | undefined> {
  return row(
    tx,
    NotificationRow,
    sql`insert into notifications (id, user_id, kind, source_key, song_id, data, created_at, in_app)
        values (${n.id}, ${n.userId}, ${n.kind}, ${n.sourceKey}, ${n.songId}, ${JSON.stringify(n.data)}::jsonb, date_trunc('milliseconds', ${n.occurredAt}::timestamptz), ${n.inApp ?? true})
        on conflict on constraint notifications_source_key do nothing
        returning *`,
  );
}

/** Marks the user's unread notifications among `ids` read; answers how many changed. */
export async function markRead(tx: Tx, userId: string, ids: readonly string[]): Promise<number> {
  const marked = await rows(
    tx,
    Id,
    sql`update notifications set read_at = now() where user_id = ${userId} and in_app and read_at is null and id in (${list(ids)}) returning id`,
  );
  return marked.length;
}

export async function markAllRead(tx: Tx, userId: string): Promise<number> {
  const marked = await rows(tx, Id, sql`update notifications set read_at = now() where user_id = ${userId} and in_app and read_at is null returning id`);
  return marked.length;
}

export async function notificationsByIds(db: Session, ids: readonly string[]): Promise<NotificationRow[]> {
  return rows(db, NotificationRow, sql`select * from notifications where id in (${list(ids)}) and in_app`);
}

/** Per user: how many notifications (or unread ones) they have; users with none are absent. */
export async function countsByUser(db: Session, userIds: readonly string[], unreadOnly: boolean): Promise<Map<string, number>> {
  const found = await rows(
    db,
    Count,
    sql`select user_id, count(*)::int as n from notifications where user_id in (${list(userIds)}) and in_app ${unreadOnly ? sql`and read_at is null` : sql``} group by user_id`,
  );
  return new Map(found.map((r) => [r.user_id, r.n]));
}

/** Up to `limit` of each user's notifications, newest first, after the keyset cursor (created_at, seq). */
export async function pagesByUser(
  db: Session,
  page: { userIds: readonly string[]; unreadOnly: boolean; cursor: readonly [createdAt: string, seq: string] | null; limit: number },
): Promise<NotificationRow[]> {
  const { userIds, unreadOnly, cursor, limit } = page;
  return rows(
    db,
    NotificationRow,
    sql`select * from (
          select n.*, row_number() over (partition by n.user_id order by n.created_at desc, n.seq desc) as page_row
          from notifications n
          where n.user_id in (${list(userIds)}) and n.in_app ${unreadOnly ? sql`and n.read_at is null` : sql``}
            ${cursor ? sql`and (n.created_at, n.seq) < (${cursor[0]}::timestamptz, ${cursor[1]}::bigint)` : sql``}
        ) paged where page_row <= ${limit} order by user_id, page_row`,
  );
}

// ---- Preferences ----

export async function preferencesByUser(db: Session, userIds: readonly string[]): Promise<z.output<typeof Preference>[]> {
  return rows(db, Preference, sql`select user_id, kind, enabled from notification_preferences where user_id in (${list(userIds)})`);
}

export async function upsertPreferences(tx: Tx, userId: string, kinds: readonly { kind: NotificationKind; enabled: boolean }[]): Promise<void> {
  if (kinds.length === 0) return;
  const values = kinds.map((k) => sql`(${userId}, ${k.kind}, ${k.enabled})`);
  await exec(
    tx,
    sql`insert into notification_preferences (user_id, kind, enabled) values ${sql.join(values)}
        on conflict (user_id, kind) do update set enabled = excluded.enabled, updated_at = now()`,
  );
}

// ---- Web Push subscriptions and deliveries ----

/** A browser's push subscription, as kept. */
export const PushSubscriptionRow = z.object({
  id: z.string(),
  user_id: z.string(),
  endpoint: z.string(),
  endpoint_origin: z.string(),
  p256dh: z.string(),
  auth: z.string(),
  created_at: timestamp,
});
export type PushSubscriptionRow = z.output<typeof PushSubscriptionRow>;

/** Serialises one user's registrations (the per-user cap holds under concurrent registrations). */
export async function lockPushSubscriptionsOf(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`notifications:push:${userId}`}))`);
}

/** How many subscriptions the user keeps, not counting `exceptEndpoint`. */
export async function countPushSubscriptions(tx: Tx, userId: string, exceptEndpoint: string): Promise<number> {
  const found = await row(
    tx,
    z.object({ n: z.number() }),
    sql`select count(*)::int as n from push_subscriptions where user_id = ${userId} and endpoint <> ${exceptEndpoint}`,
  );
  return found?.n ?? 0;
}

/**
 * Keeps a subscription for the user. The same endpoint again is the same subscription (its keys
 * refreshed); an endpoint another user registered moves to this one, under a new id.
 */
export async function upsertPushSubscription(
  tx: Tx,
  s: { id: string; userId: string; endpoint: string; endpointOrigin: string; p256dh: string; auth: string },
): Promise<PushSubscriptionRow> {
  const kept = await row(
    tx,
    PushSubscriptionRow,
    sql`insert into push_subscriptions (id, user_id, endpoint, endpoint_origin, p256dh, auth)
        values (${s.id}, ${s.userId}, ${s.endpoint}, ${s.endpointOrigin}, ${s.p256dh}, ${s.auth})
        on conflict (endpoint) do update set
          id = case when push_subscriptions.user_id = excluded.user_id then push_subscriptions.id else excluded.id end,
          created_at = case when push_subscriptions.user_id = excluded.user_id then push_subscriptions.created_at else now() end,
          user_id = excluded.user_id, endpoint_origin = excluded.endpoint_origin, p256dh = excluded.p256dh, auth = excluded.auth
        returning *`,
  );
  if (!kept) throw new Error('push subscription upsert returned no row');
  return kept;
}

/** Deletes the user's own subscription; answers whether there was one. */
export async function deleteOwnPushSubscription(tx: Tx, userId: string, id: string): Promise<boolean> {
  return (await exec(tx, sql`delete from push_subscriptions where id = ${id} and user_id = ${userId}`)) > 0;
}

/** Deletes a subscription the push service said is gone, unless it changed hands or keys since it was read. */
export async function deleteGonePushSubscription(tx: Tx, s: { id: string; endpoint: string }): Promise<boolean> {
  return (await exec(tx, sql`delete from push_subscriptions where id = ${s.id} and endpoint = ${s.endpoint}`)) > 0;
}

/** Whether the user has at least one push subscription (a PUSH delivery is queued only then). */
export async function hasPushSubscription(db: Session, userId: string): Promise<boolean> {
  const found = await row(db, z.object({ one: z.number() }), sql`select 1 as one from push_subscriptions where user_id = ${userId} limit 1`);
  return found !== undefined;
}

export async function pushSubscriptionsByUser(db: Session, userIds: readonly string[]): Promise<PushSubscriptionRow[]> {
  return rows(db, PushSubscriptionRow, sql`select * from push_subscriptions where user_id in (${list(userIds)}) order by user_id, created_at, id`);
}

/** The user's subscriptions that have not been sent `notificationId` yet. */
export async function pushSubscriptionsToSend(db: Session, userId: string, notificationId: string): Promise<PushSubscriptionRow[]> {
  return rows(
    db,
    PushSubscriptionRow,
    sql`select s.* from push_subscriptions s
        where s.user_id = ${userId}
          and not exists (select 1 from push_deliveries d where d.notification_id = ${notificationId} and d.subscription_id = s.id)
        order by s.created_at, s.id`,
  );
}

/** Notes what the push service answered for `notificationId` at this subscription, for good (a retry of the job skips it). */
export async function recordPushDelivery(
  tx: Tx,
  d: { notificationId: string; subscriptionId: string; outcome: 'SENT' | 'REFUSED'; status: number | null },
): Promise<void> {
  await exec(
    tx,
    sql`insert into push_deliveries (notification_id, subscription_id, outcome, status)
        values (${d.notificationId}, ${d.subscriptionId}, ${d.outcome}, ${d.status}) on conflict do nothing`,
  );
}

/** How many of the notification's pushes were accepted. */
export async function countPushDeliveries(db: Session, notificationId: string): Promise<number> {
  const found = await row(
    db,
    z.object({ n: z.number() }),
    sql`select count(*)::int as n from push_deliveries where notification_id = ${notificationId} and outcome = 'SENT'`,
  );
  return found?.n ?? 0;
}

// ---- Channels, contacts and deliveries (EMAIL and PUSH; IN_APP is notification_preferences) ----

const ChannelPreference = z.object({ user_id: z.string(), kind, channel: z.enum(['EMAIL', 'PUSH']), enabled: z.boolean() });
export type ChannelPreferenceRow = z.output<typeof ChannelPreference>;

export async function channelPreferencesByUser(db: Session, userIds: readonly string[]): Promise<ChannelPreferenceRow[]> {
  return rows(db, ChannelPreference, sql`select user_id, kind, channel, enabled from notification_channel_preferences where user_id in (${list(userIds)})`);
}

/** The user's settings of one kind on every channel; a channel never changed is absent (enabled). */
export async function channelSettingsOf(db: Session, userId: string, notificationKind: NotificationKind): Promise<Map<string, boolean>> {
  const found = await rows(
    db,
    z.object({ channel: z.string(), enabled: z.boolean() }),
    sql`select 'IN_APP' as channel, enabled from notification_preferences where user_id = ${userId} and kind = ${notificationKind}
        union all
        select channel, enabled from notification_channel_preferences where user_id = ${userId} and kind = ${notificationKind}`,
  );
  return new Map(found.map((r) => [r.channel, r.enabled]));
}

export async function upsertChannelPreferences(
  tx: Tx,
  userId: string,
  changes: readonly { kind: NotificationKind; channel: 'EMAIL' | 'PUSH'; enabled: boolean }[],
): Promise<void> {
  if (changes.length === 0) return;
  const values = changes.map((c) => sql`(${userId}, ${c.kind}, ${c.channel}, ${c.enabled})`);
  await exec(
    tx,
    sql`insert into notification_channel_preferences (user_id, kind, channel, enabled) values ${sql.join(values)}
        on conflict (user_id, kind, channel) do update set enabled = excluded.enabled, updated_at = now()`,
  );
}

const Contact = z.object({
  user_id: z.string(),
  email: z.string(),
  email_verified: z.boolean(),
  display_name: z.string(),
  version: z.number(),
});
export type ContactRow = z.output<typeof Contact>;

/**
 * Keeps a user's contact (identity.user.contact_changed.v1); an older or equal version than the one
 * kept changes nothing. Answers whether it was kept.
 */
export async function upsertContact(
  tx: Tx,
  c: { userId: string; email: string; emailVerified: boolean; displayName: string; version: number; changedAt: string },
): Promise<boolean> {
  const kept = await exec(
    tx,
    sql`insert into user_contacts (user_id, email, email_verified, display_name, version, changed_at)
        values (${c.userId}, ${c.email}, ${c.emailVerified}, ${c.displayName}, ${c.version}, ${c.changedAt}::timestamptz)
        on conflict (user_id) do update set email = excluded.email, email_verified = excluded.email_verified,
          display_name = excluded.display_name, version = excluded.version, changed_at = excluded.changed_at
        where user_contacts.version < excluded.version`,
  );
  return kept > 0;
}

export async function contactOf(db: Session, userId: string): Promise<ContactRow | undefined> {
  return row(db, Contact, sql`select user_id, email, email_verified, display_name, version from user_contacts where user_id = ${userId}`);
}

/** A notification whatever its in-app setting (its deliveries read it). */
export async function notificationForDelivery(db: Session, id: string): Promise<NotificationRow | undefined> {
  return row(db, NotificationRow, sql`select * from notifications where id = ${id}`);
}
