import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';
import { PAIRING_WINDOW } from './domain/ranking.ts';

/**
 * discovery's SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

const time = z.union([z.string(), z.date()]).transform((v) => new Date(v));
const count = z.union([z.string(), z.number()]).transform(Number);
const ids = (values: readonly string[]) => sql`${values}::uuid[]`;

export const SongRow = z.object({ song_id: z.string(), artist_id: z.string(), title: z.string(), genre: z.string(), score: count });
export type SongRow = z.output<typeof SongRow>;

const PairRow = z.object({
  seed_id: z.string(),
  seed_title: z.string(),
  candidate_id: z.string(),
  artist_id: z.string(),
  co: count,
  seed_listeners: count,
  candidate_listeners: count,
});
export type PairRow = z.output<typeof PairRow>;

// ---- Projections (event handlers) ----

export async function upsertSong(
  tx: Tx,
  s: { songId: string; artistId: string; title: string; genre: string; durationSeconds: number; publishedAt: string },
): Promise<void> {
  await exec(
    tx,
    sql`insert into songs (song_id, artist_id, title, genre, duration_seconds, published_at)
        values (${s.songId}, ${s.artistId}, ${s.title}, ${s.genre}, ${s.durationSeconds}, ${s.publishedAt})
        on conflict (song_id) do update set artist_id = excluded.artist_id, title = excluded.title, genre = excluded.genre,
          duration_seconds = excluded.duration_seconds, published_at = excluded.published_at`,
  );
}

/** Records a completion; true when it is the listener's first completion of this song. */
export async function recordCompletion(tx: Tx, userId: string, songId: string, at: string): Promise<boolean> {
  const result = await row(
    tx,
    z.object({ inserted: z.boolean() }),
    sql`insert into user_songs (user_id, song_id, first_completed_at, last_completed_at) values (${userId}, ${songId}, ${at}, ${at})
        on conflict (user_id, song_id) do update set completions = user_songs.completions + 1,
          last_completed_at = greatest(user_songs.last_completed_at, excluded.last_completed_at)
        returning (xmax = 0) as inserted`,
  );
  await exec(
    tx,
    sql`insert into song_daily (song_id, day, listens) values (${songId}, (${at}::timestamptz at time zone 'UTC')::date, 1)
        on conflict (song_id, day) do update set listens = song_daily.listens + 1`,
  );
  return result?.inserted ?? false;
}

/**
 * A listener's first completion of a song: one more distinct listener for it, and one more for each
 * pair it makes with the listener's most recent earlier songs (at most PAIRING_WINDOW: bounded work).
 */
export async function addListenerAndPairs(tx: Tx, userId: string, songId: string): Promise<void> {
  await exec(
    tx,
    sql`insert into song_listeners (song_id, listeners) values (${songId}, 1) on conflict (song_id) do update set listeners = song_listeners.listeners + 1`,
  );
  await exec(
    tx,
    sql`with earlier as (
          select song_id from user_songs where user_id = ${userId} and song_id <> ${songId}
          order by first_completed_at desc limit ${PAIRING_WINDOW}
        )
        insert into pair_listeners (song_a, song_b, listeners)
        select ${songId}::uuid, song_id, 1 from earlier
        union all select song_id, ${songId}::uuid, 1 from earlier
        on conflict (song_a, song_b) do update set listeners = pair_listeners.listeners + 1`,
  );
}

// ---- Reads ----

/** The caller's most recent distinct published songs, newest first. */
export async function recentHistory(db: Session, userId: string, limit: number) {
  return rows(
    db,
    z.object({ song_id: z.string(), title: z.string(), genre: z.string(), last_completed_at: time }),
    sql`select u.song_id, s.title, s.genre, u.last_completed_at from user_songs u join songs s using (song_id)
        where u.user_id = ${userId} order by u.last_completed_at desc limit ${limit}`,
  );
}

/** Songs the caller completed since `since`, most recent first (at most `limit`). */
export async function completedSince(db: Session, userId: string, since: Date, limit = 10_000): Promise<string[]> {
  const found = await rows(
    db,
    z.object({ song_id: z.string() }),
    sql`select song_id from user_songs where user_id = ${userId} and last_completed_at >= ${since} order by last_completed_at desc limit ${limit}`,
  );
  return found.map((r) => r.song_id);
}

/** Each seed's strongest neighbours (pairs of at least k listeners only), published songs only. */
export async function neighbours(db: Session, seedIds: readonly string[], k: number, perSeed: number): Promise<PairRow[]> {
  if (seedIds.length === 0) return [];
  return rows(
    db,
    PairRow,
    // The pairs first (an index range per seed, materialized), then the songs and counts by key:
    // the planner never rescans a whole table per seed.
    sql`with p as materialized (
          select seed.song_id as seed_id, n.song_b, n.listeners
          from unnest(${ids(seedIds)}) as seed(song_id)
          cross join lateral (
            select song_b, listeners from pair_listeners where song_a = seed.song_id and listeners >= ${k}
            order by listeners desc limit ${perSeed}
          ) n
        )
        select p.seed_id, s.title as seed_title, p.song_b as candidate_id, c.artist_id, p.listeners as co,
               ls.listeners as seed_listeners, lc.listeners as candidate_listeners
        from p
        join songs s on s.song_id = p.seed_id
        join song_listeners ls on ls.song_id = p.seed_id
        join songs c on c.song_id = p.song_b
        join song_listeners lc on lc.song_id = p.song_b`,
  );
}

/** The genres of the caller's history, most listened first. */
export async function topGenres(db: Session, userId: string, limit: number): Promise<string[]> {
  const found = await rows(
    db,
    z.object({ genre: z.string() }),
    sql`select min(s.genre) as genre from user_songs u join songs s using (song_id) where u.user_id = ${userId}
        group by lower(s.genre) order by sum(u.completions) desc, lower(s.genre) limit ${limit}`,
  );
  return found.map((r) => r.genre);
}

/** The most listened published songs of these genres (case-insensitive), score = distinct listeners. */
export async function popularInGenres(db: Session, genres: readonly string[], limit: number): Promise<SongRow[]> {
  if (genres.length === 0) return [];
  return rows(
    db,
    SongRow,
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score
        from songs s left join song_listeners l using (song_id)
        where lower(s.genre) = any(${genres.map((g) => g.toLowerCase())}::text[])
        order by score desc, s.published_at desc, s.song_id limit ${limit}`,
  );
}

/** Trending: completed listens since `since`, then the newest published songs (score 0) to fill. */
export async function trending(db: Session, since: Date, limit: number): Promise<SongRow[]> {
  return rows(
    db,
    SongRow,
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(t.listens, 0) as score
        from songs s left join (
          select song_id, sum(listens) as listens from song_daily where day >= (${since}::timestamptz at time zone 'UTC')::date group by song_id
        ) t using (song_id)
        order by score desc, s.published_at desc, s.song_id limit ${limit}`,
  );
}

/** Which of these songs are published (exist here). */
export async function publishedSong(db: Session, songId: string): Promise<SongRow | undefined> {
  return row(
    db,
    SongRow,
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score from songs s left join song_listeners l using (song_id) where s.song_id = ${songId}`,
  );
}

/** An artist's published songs, most listened first, except those served. */
export async function artistSongs(db: Session, artistId: string, served: readonly string[], limit: number): Promise<SongRow[]> {
  return rows(
    db,
    SongRow,
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score
        from songs s left join song_listeners l using (song_id)
        where s.artist_id = ${artistId} and not (s.song_id = any(${ids(served)}))
        order by score desc, s.published_at desc, s.song_id limit ${limit}`,
  );
}

/** The artist's genres, most songs first. */
export async function artistGenres(db: Session, artistId: string): Promise<string[]> {
  const found = await rows(
    db,
    z.object({ genre: z.string() }),
    sql`select min(genre) as genre from songs where artist_id = ${artistId} group by lower(genre) order by count(*) desc, lower(genre) limit 3`,
  );
  return found.map((r) => r.genre);
}

// ---- Radio sessions ----

export async function createRadioSession(tx: Tx, id: string, userId: string, artistId: string): Promise<void> {
  await exec(tx, sql`insert into radio_sessions (id, user_id, artist_id) values (${id}, ${userId}, ${artistId})`);
}

/** A radio session, locked for this transaction (two pages of one session never interleave). */
export async function lockRadioSession(tx: Tx, id: string) {
  return row(
    tx,
    z.object({ id: z.string(), user_id: z.string(), artist_id: z.string(), served: z.array(z.string()) }),
    sql`select id, user_id, artist_id, served::text[] as served from radio_sessions where id = ${id} for update`,
  );
}

export async function addServed(tx: Tx, id: string, songIds: readonly string[]): Promise<void> {
  await exec(tx, sql`update radio_sessions set served = served || ${ids(songIds)} where id = ${id}`);
}
