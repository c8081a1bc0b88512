import { decodeCursor, pageSize, toConnection, type Session } from '@vibestream/platform';
import * as store from './store.ts';
import type { Song } from './store.ts';

type SearchCursor = [score: number, id: string];
const isSearchCursor = (v: unknown): v is SearchCursor => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';

/**
 * Full-text search with trigram typo tolerance over published songs, best match first.
 * The cursor is (score, id), so pages neither repeat nor skip songs while others are added.
 */
export async function searchSongs(db: Session, query: string, first: number | null | undefined, after: string | null | undefined) {
  const size = pageSize(first);
  const cursor = decodeCursor(after, isSearchCursor);
  const rows = await store.searchSongs(db, query, cursor, size + 1);
  const count = await store.searchCount(db, query);
  const scored = rows.map(({ score, ...song }) => ({ song, score }));
  const connection = toConnection(scored, size, count, (r) => [r.score, r.song.id]);
  return { ...connection, edges: connection.edges.map((e) => ({ cursor: e.cursor, node: e.node.song })) };
}

/** Published songs ranked by completed listens in the window; ties by all-time plays. */
export async function trendingSongs(db: Session, first: number | null | undefined, windowDays: number): Promise<Song[]> {
  return store.trendingSongs(db, windowDays, pageSize(first));
}
