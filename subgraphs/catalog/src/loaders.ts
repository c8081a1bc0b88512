import DataLoader from 'dataloader';
import { MAX_PAGE_SIZE, decodeCursor, pageSize, toConnection, type Connection, type Session } from '@vibestream/platform';
import { isUuid } from './service.ts';
import * as store from './store.ts';
import type { Album, Artist, PageAfter, PageKind, Playlist, Song, StreamJob } from './store.ts';

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

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): { first: T; items: T[] }[] {
  const groups = new Map<string, { first: T; items: T[] }>();
  for (const item of items) {
    const group = groups.get(keyOf(item)) ?? { first: item, items: [] };
    group.items.push(item);
    groups.set(keyOf(item), group);
  }
  return [...groups.values()];
}

/** Where a page starts, from its cursor; a cursor that does not parse starts at the beginning. */
function pageAfter(kind: PageKind, after: string | null): PageAfter {
  if (kind === 'playlistSongs') {
    const position = decodeCursor(after, isPositionCursor);
    return position ? { position: position[0] } : null;
  }
  const time = decodeCursor(after, isTimeCursor);
  return time ? { createdAt: time[0], id: time[1] } : null;
}

/**
 * One page per parent for many parents in two statements (rows with a window function, and
 * counts), whatever the number of parents. Keys that share first/after share the statements.
 */
function pagesByParent<T extends Song | Playlist>(
  db: Session,
  kind: PageKind,
  load: (page: {
    parents: string[];
    viewerUserId: string;
    after: PageAfter;
    limit: number;
  }) => Promise<{ node: T; position: number | undefined; parentId: string }[]>,
  viewerUserId: string,
  cursorOf: (node: T, position: number | undefined) => unknown,
) {
  return new DataLoader<PageKey, Connection<T>, string>(
    async (keys) => {
      const results = new Map<string, Connection<T>>();
      for (const group of groupBy(keys, (k) => `${k.first}|${k.after ?? ''}`)) {
        const { first, after } = group.first;
        const parents = [...new Set(group.items.map((k) => k.parentId).filter(isUuid))];
        if (parents.length === 0) continue;
        const rows = await load({ parents, viewerUserId, after: pageAfter(kind, after), limit: first + 1 });
        const total = await store.pageCounts(db, kind, parents, viewerUserId);
        for (const parentId of parents) {
          const own = rows.filter((r) => r.parentId === parentId);
          const connection = toConnection(own, first, total.get(parentId) ?? 0, (m) => cursorOf(m.node, m.position));
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
export function createLoaders(db: Session, viewerUserId: string | null) {
  const viewer = viewerUserId && isUuid(viewerUserId) ? viewerUserId : '00000000-0000-0000-0000-000000000000';
  const byTime = (node: Song | Playlist) => [node.createdAt.toISOString(), node.id];

  return {
    artist: byIds((ids) => store.artistsByIds(db, ids)),
    album: byIds((ids) => store.albumsByIds(db, ids)),
    song: byIds((ids) => store.songsByIds(db, ids)),
    playlist: byIds((ids) => store.playlistsByIds(db, ids)),
    artistByUser: new DataLoader<string, Artist | null>(async (userIds) => {
      const valid = userIds.filter(isUuid);
      const artists = valid.length ? await store.artistsByUsers(db, valid) : [];
      return userIds.map((id) => artists.find((a) => a.userId === id) ?? null);
    }),
    /** Each artist's first albums in creation order, as many as `first` may ask for (Artist.albums slices them). */
    albumsByArtist: new DataLoader<string, Album[]>(async (artistIds) => {
      const valid = artistIds.filter(isUuid);
      const albums = valid.length ? await store.firstAlbumsOfArtists(db, valid, MAX_PAGE_SIZE) : [];
      return artistIds.map((id) => albums.filter((a) => a.artistId === id));
    }),
    /** Songs of albums visible to the viewer, in creation order. */
    songsByAlbum: new DataLoader<string, Song[]>(async (albumIds) => {
      const valid = albumIds.filter(isUuid);
      const songs = valid.length ? await store.songsOfAlbums(db, valid, viewer) : [];
      return albumIds.map((id) => songs.filter((s) => s.albumId === id));
    }),
    /** An artist's songs, newest first; drafts only when the viewer is that artist. */
    artistSongs: pagesByParent<Song>(db, 'artistSongs', (page) => store.pageRows(db, 'artistSongs', store.Song, page), viewer, byTime),
    /** A playlist's songs in the order added, never another artist's draft. */
    playlistSongs: pagesByParent<Song>(
      db,
      'playlistSongs',
      (page) => store.pageRows(db, 'playlistSongs', store.Song, page),
      viewer,
      (_song, position) => [position ?? 0],
    ),
    /** Each song's transcoding job (null: none, e.g. a draft). */
    streamJob: new DataLoader<string, StreamJob | null>(async (songIds) => {
      const valid = [...new Set(songIds.filter(isUuid))];
      const jobs = valid.length ? await store.streamJobsBySongs(db, valid) : [];
      const map = new Map(jobs.map((j) => [j.songId, j]));
      return songIds.map((id) => map.get(id) ?? null);
    }),
    playlistsByOwner: pagesByParent<Playlist>(db, 'playlistsByOwner', (page) => store.pageRows(db, 'playlistsByOwner', store.Playlist, page), viewer, byTime),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

export function pageKey(parentId: string, first: number | null | undefined, after: string | null | undefined, fallback = 20): PageKey {
  return { parentId, first: pageSize(first, fallback), after: after ?? null };
}
