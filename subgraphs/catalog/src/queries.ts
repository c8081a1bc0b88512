import { decodeCursor, pageSize, toConnection, type EntityManager } from '@vibestream/platform';
import { Song } from './entities.ts';

type SearchCursor = [score: number, id: string];
const isSearchCursor = (v: unknown): v is SearchCursor => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';

/** Title counts most, then artist name, then genre; both for whole words and for typos. */
const scoreSql = `(
  ts_rank(s.search_vector, q.tsq, 1)
  + greatest(
      word_similarity(q.raw, lower(s.title)),
      0.6 * word_similarity(q.raw, lower(s.artist_name)),
      0.3 * word_similarity(q.raw, lower(s.genre))
    )
)::float8`;

const matchSql = `s.status = 'PUBLISHED' and (s.search_vector @@ q.tsq or q.raw <% s.search_text)`;

/**
 * Full-text search with trigram typo tolerance over published songs, best match first.
 * The cursor is (score, id), so pages neither repeat nor skip songs while others are added.
 */
export async function searchSongs(em: EntityManager, query: string, first: number | null | undefined, after: string | null | undefined) {
  const size = pageSize(first);
  const cursor = decodeCursor(after, isSearchCursor);
  const params: unknown[] = [query, query];
  let keyset = '';
  if (cursor) {
    keyset = 'where (r.score < ? or (r.score = ? and r.id > ?))';
    params.push(cursor[0], cursor[0], cursor[1]);
  }
  params.push(size + 1);
  const rows = (await em.execute(
    `with q as (select websearch_to_tsquery('simple', ?) as tsq, ?::text as raw)
     select * from (select s.*, ${scoreSql} as score from songs s, q where ${matchSql}) r
     ${keyset}
     order by r.score desc, r.id asc
     limit ?`,
    params,
  )) as (Record<string, unknown> & { score: number })[];
  const [count] = (await em.execute(
    `with q as (select websearch_to_tsquery('simple', ?) as tsq, ?::text as raw) select count(*)::int as n from songs s, q where ${matchSql}`,
    [query, query],
  )) as { n: number }[];
  const scored = rows.map((row) => ({ song: em.map(Song, row), score: Number(row.score) }));
  const connection = toConnection(scored, size, count?.n ?? 0, (r) => [r.score, r.song.id]);
  return { ...connection, edges: connection.edges.map((e) => ({ cursor: e.cursor, node: e.node.song })) };
}

/** Published songs ranked by completed listens in the window; ties by all-time plays. */
export async function trendingSongs(em: EntityManager, first: number | null | undefined, windowDays: number): Promise<Song[]> {
  const size = pageSize(first);
  const rows = (await em.execute(
    `select s.* from songs s
     join (select song_id, count(*) as recent from listens where completed_at > now() - make_interval(days => ?) group by song_id) l
       on l.song_id = s.id
     where s.status = 'PUBLISHED'
     order by l.recent desc, s.play_count desc, s.id
     limit ?`,
    [windowDays, size],
  )) as Record<string, unknown>[];
  return rows.map((row) => em.map(Song, row));
}
