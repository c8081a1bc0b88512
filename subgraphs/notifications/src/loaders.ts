import DataLoader from 'dataloader';
import { decodeCursor, isUuid, toConnection, type Connection, type EntityManager } from '@vibestream/platform';
import type { NotificationKind } from './domain/notifications.ts';
import { preferencesFrom, type NotificationRow, type PreferencesModel } from './service.ts';

export interface PageKey {
  userId: string;
  first: number;
  after: string | null;
  unreadOnly: boolean;
}

type PageCursor = [createdAt: string, seq: string];
const isPageCursor = (v: unknown): v is PageCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && /^\d{1,19}$/.test(v[1]);

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');
/** Distinct valid ids, lower-cased as PostgreSQL prints them (others match nothing). */
const uuids = (ids: readonly string[]) => [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
const pageKeyOf = (k: PageKey) => `${k.userId}|${k.first}|${k.after ?? ''}|${k.unreadOnly}`;

/** Per-request loaders: counts, preferences and pages for any number of users in a constant number of statements. */
export function createLoaders(em: EntityManager) {
  const counts = (unreadOnly: boolean) =>
    new DataLoader<string, number>(async (userIds) => {
      const valid = uuids(userIds);
      const rows = valid.length
        ? ((await em.execute(
            `select user_id, count(*)::int as n from notifications where user_id in (${placeholders(valid.length)}) ${unreadOnly ? 'and read_at is null' : ''} group by user_id`,
            valid,
          )) as { user_id: string; n: number }[])
        : [];
      return userIds.map((id) => rows.find((r) => r.user_id === id.toLowerCase())?.n ?? 0);
    });
  const unreadCount = counts(true);
  const totalCount = counts(false);

  return {
    unreadCount,
    preferences: new DataLoader<string, PreferencesModel>(async (userIds) => {
      const valid = uuids(userIds);
      const rows = valid.length
        ? ((await em.execute(`select user_id, kind, enabled from notification_preferences where user_id in (${placeholders(valid.length)})`, valid)) as {
            user_id: string;
            kind: NotificationKind;
            enabled: boolean;
          }[])
        : [];
      return userIds.map((id) => preferencesFrom(new Map(rows.filter((r) => r.user_id === id.toLowerCase()).map((r) => [r.kind, r.enabled]))));
    }),
    songTitle: new DataLoader<string, string | null>(async (songIds) => {
      const rows = (await em.execute(`select song_id, title from songs where song_id in (${placeholders(songIds.length)})`, [...songIds])) as {
        song_id: string;
        title: string;
      }[];
      return songIds.map((id) => rows.find((r) => r.song_id === id)?.title ?? null);
    }),
    notification: new DataLoader<string, NotificationRow | null>(async (ids) => {
      const valid = uuids(ids);
      const rows = valid.length ? ((await em.execute(`select * from notifications where id in (${placeholders(valid.length)})`, valid)) as NotificationRow[]) : [];
      return ids.map((id) => rows.find((r) => r.id === id.toLowerCase()) ?? null);
    }),
    /** Newest first, keyset-paged on (created_at, seq); one statement per distinct first/after/unreadOnly. */
    page: new DataLoader<PageKey, Connection<NotificationRow>, string>(
      async (keys) => {
        const results = new Map<string, Connection<NotificationRow>>();
        const groups = new Map<string, PageKey[]>();
        for (const key of keys) {
          const group = `${key.first}|${key.after ?? ''}|${key.unreadOnly}`;
          groups.set(group, [...(groups.get(group) ?? []), key]);
        }
        for (const group of groups.values()) {
          const { first, after, unreadOnly } = group[0]!;
          const users = uuids(group.map((k) => k.userId));
          if (users.length === 0) continue;
          const cursor = decodeCursor(after, isPageCursor);
          const rows = (await em.execute(
            `select * from (
               select n.*, row_number() over (partition by n.user_id order by n.created_at desc, n.seq desc) as page_row
               from notifications n
               where n.user_id in (${placeholders(users.length)}) ${unreadOnly ? 'and n.read_at is null' : ''}
                 ${cursor ? 'and (n.created_at, n.seq) < (?::timestamptz, ?::bigint)' : ''}
             ) paged where page_row <= ? order by user_id, page_row`,
            [...users, ...(cursor ?? []), first + 1],
          )) as (NotificationRow & { page_row: string })[];
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
