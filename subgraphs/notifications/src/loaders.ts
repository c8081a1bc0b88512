import DataLoader from 'dataloader';
import { decodeCursor, isUuid, toConnection, type Connection, type Session } from '@vibestream/platform';
import { channelGrid, type ChannelSetting } from './domain/channels.ts';
import { deliveriesOf, type DeliveryModel } from './deliveries.ts';
import { channelSettingsMap, preferencesFrom, type PreferencesModel } from './service.ts';
import * as store from './store.ts';
import type { NotificationRow } from './store.ts';

export interface PageKey {
  userId: string;
  first: number;
  after: string | null;
  unreadOnly: boolean;
}

type PageCursor = [createdAt: string, seq: string];
const isPageCursor = (v: unknown): v is PageCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && /^\d{1,19}$/.test(v[1]);

/** Distinct valid ids, lower-cased as PostgreSQL prints them (others match nothing). */
const uuids = (ids: readonly string[]) => [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
const pageKeyOf = (k: PageKey) => `${k.userId}|${k.first}|${k.after ?? ''}|${k.unreadOnly}`;

/** Per-request loaders: counts, preferences and pages for any number of users in a constant number of statements. */
export function createLoaders(db: Session) {
  const counts = (unreadOnly: boolean) =>
    new DataLoader<string, number>(async (userIds) => {
      const valid = uuids(userIds);
      const found = valid.length ? await store.countsByUser(db, valid, unreadOnly) : new Map<string, number>();
      return userIds.map((id) => found.get(id.toLowerCase()) ?? 0);
    });
  const unreadCount = counts(true);
  const totalCount = counts(false);

  return {
    unreadCount,
    preferences: new DataLoader<string, PreferencesModel>(async (userIds) => {
      const valid = uuids(userIds);
      const rows = valid.length ? await store.preferencesByUser(db, valid) : [];
      return userIds.map((id) => preferencesFrom(new Map(rows.filter((r) => r.user_id === id.toLowerCase()).map((r) => [r.kind, r.enabled]))));
    }),
    /** Each user's push subscriptions, oldest first. */
    pushSubscriptions: new DataLoader<string, store.PushSubscriptionRow[]>(async (userIds) => {
      const valid = uuids(userIds);
      const rows = valid.length ? await store.pushSubscriptionsByUser(db, valid) : [];
      return userIds.map((id) => rows.filter((r) => r.user_id === id.toLowerCase()));
    }),
    /** Every kind on every channel, per user (IN_APP from the kind preferences). */
    channels: new DataLoader<string, ChannelSetting[]>(async (userIds) => {
      const valid = uuids(userIds);
      const [inApp, others] = valid.length ? await Promise.all([store.preferencesByUser(db, valid), store.channelPreferencesByUser(db, valid)]) : [[], []];
      return userIds.map((id) => {
        const userId = id.toLowerCase();
        return channelGrid(
          channelSettingsMap(
            inApp.filter((r) => r.user_id === userId),
            others.filter((r) => r.user_id === userId),
          ),
        );
      });
    }),
    /** Each notification's EMAIL and PUSH deliveries (its jobs), for any number of notifications in one statement. */
    deliveries: new DataLoader<string, DeliveryModel[]>(async (notificationIds) => {
      const found = await deliveriesOf(db, notificationIds);
      return notificationIds.map((id) => found.get(id) ?? []);
    }),
    songTitle: new DataLoader<string, string | null>(async (songIds) => {
      const titles = await store.songTitles(db, songIds);
      return songIds.map((id) => titles.get(id) ?? null);
    }),
    notification: new DataLoader<string, NotificationRow | null>(async (ids) => {
      const valid = uuids(ids);
      const rows = valid.length ? await store.notificationsByIds(db, valid) : [];
      return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
    }),
    /** Newest first, keyset-paged on (created_at, seq); one statement per distinct first/after/unreadOnly. */
    page: new DataLoader<PageKey, Connection<NotificationRow>, string>(
      async (keys) => {
        const results = new Map<string, Connection<NotificationRow>>();
        const groups = new Map<string, { first: number; after: string | null; unreadOnly: boolean; keys: PageKey[] }>();
        for (const key of keys) {
          const group = `${key.first}|${key.after ?? ''}|${key.unreadOnly}`;
          const known = groups.get(group) ?? { first: key.first, after: key.after, unreadOnly: key.unreadOnly, keys: [] };
          known.keys.push(key);
          groups.set(group, known);
        }
        for (const { first, after, unreadOnly, keys: group } of groups.values()) {
          const users = uuids(group.map((k) => k.userId));
          if (users.length === 0) continue;
          const cursor = decodeCursor(after, isPageCursor);
          const rows = await store.pagesByUser(db, { userIds: users, unreadOnly, cursor, limit: first + 1 });
          const totals = await (unreadOnly ? unreadCount : totalCount).loadMany(users);
          users.forEach((userId, i) => {
            const total = totals[i];
            if (total instanceof Error) throw total;
            const own = rows.filter((r) => r.user_id === userId);
            results.set(
              pageKeyOf({ userId, first, after, unreadOnly }),
              toConnection(own, first, total ?? 0, (r) => [new Date(r.created_at).toISOString(), String(r.seq)]),
            );
          });
        }
        return keys.map((k) => results.get(pageKeyOf(k)) ?? toConnection([], k.first, 0, () => null));
      },
      { cacheKeyFn: pageKeyOf },
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
