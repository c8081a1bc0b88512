import DataLoader from 'dataloader';
import { MAX_PAGE_SIZE, decodeCursor, pageSize, toConnection, type Connection, type EntityManager } from '@vibestream/platform';
import { Album, Artist, Playlist, Song } from './entities.ts';
import { isUuid } from './service.ts';

type Row = Record<string, unknown>;
type PageKey = { parentId: string; first: number; after: string | null };
type TimeCursor = [createdAt: string, id: string];
const isTimeCursor = (v: unknown): v is TimeCursor => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
const isPositionCursor = (v: unknown): v is [number] => Array.isArray(v) && v.length === 1 && typeof v[0] === 'number';

function byIds<T extends { id: string }>(load: (ids: string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(async (ids) => {
    const valid = [...new Set(ids.filter(isUuid))];
    const rows = valid.length ? await load(valid) : [];
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id) ?? null);
  });
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(keyOf(item), [...(groups.get(keyOf(item)) ?? []), item]);
  return [...groups.values()];
}

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * One page per parent for many parents in two statements (rows with a window function, and
 * counts), whatever the number of parents. Keys that share first/after share the statements.
 */
type Execute = (sql: string, params: unknown[]) => Promise<unknown>;

function pagesByParent<T>(execute: Execute, options: {
  /** `from ... where` body selecting rows; must expose `parent_id`. */
  source: string;
  params: () => unknown[];
  order: string;
  keyset: (cursor: string) => { sql: string; params: unknown[] };
  map: (row: Row) => T;
  cursorOf: (row: T, raw: Row) => unknown;
}) {
  return new DataLoader<PageKey, Connection<T>, string>(
    async (keys) => {
      const results = new Map<string, Connection<T>>();
      for (const group of groupBy(keys, (k) => `${k.first}|${k.after ?? ''}`)) {
        const { first, after } = group[0]!;
        const parents = [...new Set(group.map((k) => k.parentId).filter(isUuid))];
        if (parents.length === 0) continue;
        const keyset = after ? options.keyset(after) : { sql: '', params: [] };
        const rows = (await execute(
          `select * from (
             select x.*, row_number() over (partition by x.parent_id order by ${options.order}) as page_row
             from (${options.source}) x
             where x.parent_id in (${placeholders(parents.length)}) ${keyset.sql}
           ) paged where page_row <= ? order by parent_id, page_row`,
          [...options.params(), ...parents, ...keyset.params, first + 1],
        )) as Row[];
        const counts = (await execute(
          `select x.parent_id, count(*)::int as n from (${options.source}) x where x.parent_id in (${placeholders(parents.length)}) group by x.parent_id`,
          [...options.params(), ...parents],
        )) as { parent_id: string; n: number }[];
        const total = new Map(counts.map((c) => [c.parent_id, c.n]));
        for (const parentId of parents) {
          const raw = rows.filter((r) => r.parent_id === parentId);
          const mapped = raw.map((r) => ({ node: options.map(r), raw: r }));
          const connection = toConnection(mapped, first, total.get(parentId) ?? 0, (m) => options.cursorOf(m.node, m.raw));
          results.set(`${parentId}|${first}|${after ?? ''}`, { ...connection, edges: connection.edges.map((e) => ({ cursor: e.cursor, node: e.node.node })) });
        }
      }
      const empty = (first: number): Connection<T> => toConnection([], first, 0, () => null);
      return keys.map((k) => results.get(`${k.parentId}|${k.first}|${k.after ?? ''}`) ?? empty(k.first));
    },
    { cacheKeyFn: (k) => `${k.parentId}|${k.first}|${k.after ?? ''}` },
  );
}

/** Per-request loaders; `viewerUserId` decides which drafts a list may show (only the viewer's own). */
export function createLoaders(em: EntityManager, viewerUserId: string | null) {
  const execute: Execute = (sql, params) => em.execute(sql, params);
  const pages = <T>(options: Parameters<typeof pagesByParent<T>>[1]) => pagesByParent<T>(execute, options);
  const viewer = viewerUserId && isUuid(viewerUserId) ? viewerUserId : '00000000-0000-0000-0000-000000000000';
  const toSong = (row: Row) => em.map(Song, row);
  const timeKeyset = (after: string) => {
    const [createdAt, id] = decodeCursor(after, isTimeCursor)!;
    return { sql: 'and (x.created_at, x.id) < (?::timestamptz, ?::uuid)', params: [createdAt, id] };
  };

  return {
    artist: byIds((ids) => em.find(Artist, { id: { $in: ids } })),
    album: byIds((ids) => em.find(Album, { id: { $in: ids } })),
    song: byIds((ids) => em.find(Song, { id: { $in: ids } })),
    playlist: byIds((ids) => em.find(Playlist, { id: { $in: ids } })),
    artistByUser: new DataLoader<string, Artist | null>(async (userIds) => {
      const artists = await em.find(Artist, { userId: { $in: userIds.filter(isUuid) } });
      return userIds.map((id) => artists.find((a) => a.userId === id) ?? null);
    }),
    /** Each artist's first albums in creation order, as many as `first` may ask for (Artist.albums slices them). */
    albumsByArtist: new DataLoader<string, Album[]>(async (artistIds) => {
      const valid = artistIds.filter(isUuid);
      const rows = valid.length
        ? ((await em.execute(
            `select * from (select a.*, row_number() over (partition by a.artist_id order by a.created_at, a.id) as position
                            from albums a where a.artist_id in (${placeholders(valid.length)})) x
             where x.position <= ? order by x.created_at, x.id`,
            [...valid, MAX_PAGE_SIZE],
          )) as Row[])
        : [];
      const albums = rows.map((row) => em.map(Album, row));
      return artistIds.map((id) => albums.filter((a) => a.artistId === id));
    }),
    /** Songs of albums visible to the viewer, in creation order. */
    songsByAlbum: new DataLoader<string, Song[]>(async (albumIds) => {
      const valid = albumIds.filter(isUuid);
      const rows = valid.length
        ? ((await em.execute(
            `select s.* from songs s join artists a on a.id = s.artist_id
             where s.album_id in (${placeholders(valid.length)}) and (s.status = 'PUBLISHED' or a.user_id = ?)
             order by s.created_at, s.id`,
            [...valid, viewer],
          )) as Row[])
        : [];
      const songs = rows.map(toSong);
      return albumIds.map((id) => songs.filter((s) => s.albumId === id));
    }),
    /** An artist's songs, newest first; drafts only when the viewer is that artist. */
    artistSongs: pages<Song>({
      source: `select s.*, s.artist_id as parent_id from songs s join artists a on a.id = s.artist_id where s.status = 'PUBLISHED' or a.user_id = ?`,
      params: () => [viewer],
      order: 'x.created_at desc, x.id desc',
      keyset: timeKeyset,
      map: toSong,
      cursorOf: (song) => [song.createdAt.toISOString(), song.id],
    }),
    /** A playlist's songs in the order added, never another artist's draft. */
    playlistSongs: pages<Song>({
      source: `select s.*, ps.playlist_id as parent_id, ps.position as list_position from playlist_songs ps
               join songs s on s.id = ps.song_id join artists a on a.id = s.artist_id
               where s.status = 'PUBLISHED' or a.user_id = ?`,
      params: () => [viewer],
      order: 'x.list_position asc',
      keyset: (after) => ({ sql: 'and x.list_position > ?', params: [decodeCursor(after, isPositionCursor)![0]] }),
      map: toSong,
      cursorOf: (_song, raw) => [Number(raw.list_position)],
    }),
    playlistsByOwner: pages<Playlist>({
      source: `select p.*, p.owner_id as parent_id from playlists p`,
      params: () => [],
      order: 'x.created_at desc, x.id desc',
      keyset: timeKeyset,
      map: (row) => em.map(Playlist, row),
      cursorOf: (playlist) => [playlist.createdAt.toISOString(), playlist.id],
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

export function pageKey(parentId: string, first: number | null | undefined, after: string | null | undefined, fallback = 20): PageKey {
  return { parentId, first: pageSize(first, fallback), after: after ?? null };
}
