import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';
import { MIN_PAIR_LISTENERS, PAIRING_WINDOW, type NeighbourRow } from './domain/ranking.ts';

/**
 * discovery's SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

const time = z.union([z.string(), z.date()]).transform((v) => new Date(v));
const count = z.union([z.string(), z.number()]).transform(Number);
const ids = (values: readonly string[]) => sql`${values}::uuid[]`;

export const SongRow = z.object({ song_id: z.string(), artist_id: z.string(), title: z.string(), genre: z.string(), score: count, published_at: time });
export type SongRow = z.output<typeof SongRow>;

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
  // The song's own rows, and the rows of every song it has a usable pair with (it may enter them,
  // or its artist changed): recomputed by the next batch.
  await exec(
    tx,
    sql`insert into neighbour_dirty (song_id)
        select ${s.songId}::uuid union select song_b from pair_listeners where song_a = ${s.songId} and listeners >= ${MIN_PAIR_LISTENERS}
        on conflict (song_id) do nothing`,
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
 * Records a user's interaction with a song (a completed listen, a playlist add, a share purchase, a
 * campaign join); true when it is the user's first interaction of any kind with the song. Idempotent
 * per (user, song): a redelivered event or a second kind of interaction answers false.
 */
export async function recordInteraction(tx: Tx, userId: string, songId: string, at: string): Promise<boolean> {
  const inserted = await row(
    tx,
    z.object({ inserted: z.boolean() }),
    sql`insert into user_interactions (user_id, song_id, first_at) values (${userId}, ${songId}, ${at})
        on conflict (user_id, song_id) do nothing returning true as inserted`,
  );
  return inserted !== undefined;
}

/**
 * A user's first interaction with a song (recordInteraction): one more distinct user ("listener") for
 * it, and one more for each pair it makes with the user's most recent earlier songs (at most PAIRING_WINDOW: bounded work).
 * The songs whose neighbour rows this changes are marked, in the same statement: the song itself and
 * each partner whose pair with it is now usable (at least MIN_PAIR_LISTENERS, the floor of k; a pair
 * under it is in no song's rows and cannot enter one).
 */
export async function addListenerAndPairs(tx: Tx, userId: string, songId: string): Promise<void> {
  await exec(
    tx,
    sql`insert into song_listeners (song_id, listeners) values (${songId}, 1) on conflict (song_id) do update set listeners = song_listeners.listeners + 1`,
  );
  await exec(
    tx,
    sql`with earlier as (
          select song_id from user_interactions where user_id = ${userId} and song_id <> ${songId}
          order by first_at desc limit ${PAIRING_WINDOW}
        ), counted as (
          insert into pair_listeners (song_a, song_b, listeners)
          select ${songId}::uuid, song_id, 1 from earlier
          union all select song_id, ${songId}::uuid, 1 from earlier
          on conflict (song_a, song_b) do update set listeners = pair_listeners.listeners + 1
          returning song_a, listeners
        )
        insert into neighbour_dirty (song_id)
        select distinct song_a from counted where listeners >= ${MIN_PAIR_LISTENERS} order by song_a
        on conflict (song_id) do nothing`,
  );
}

// ---- The neighbour table (batched recomputation) ----

const UsablePair = z.object({
  seed_id: z.string(),
  candidate_id: z.string(),
  artist_id: z.string(),
  co: count,
  seed_listeners: count,
  candidate_listeners: count,
});
export type UsablePair = z.output<typeof UsablePair>;

/** Takes up to `limit` marked songs, oldest mark first (skipping those another batch holds), unmarking them. */
export async function claimDirty(tx: Tx, limit: number): Promise<string[]> {
  const found = await rows(
    tx,
    z.object({ song_id: z.string() }),
    sql`delete from neighbour_dirty where song_id in (
          select song_id from neighbour_dirty order by since limit ${limit} for update skip locked
        ) returning song_id`,
  );
  return found.map((r) => r.song_id);
}

/**
 * The strongest usable pairs (at least k listeners) of these published songs with published songs:
 * per song its `limit` pairs with the most listeners, and every pair tied with the last of them, with
 * the counts. Bounded by `limit` (plus ties) per song, read in the order of the (song_a, listeners desc)
 * index: a popular song's recomputation does not read all its pairs.
 */
export async function usablePairs(tx: Tx, songIds: readonly string[], k: number, limit: number): Promise<UsablePair[]> {
  if (songIds.length === 0) return [];
  return rows(
    tx,
    UsablePair,
    sql`select s.song_id as seed_id, n.candidate_id, n.artist_id, n.co, ls.listeners as seed_listeners, n.candidate_listeners
        from unnest(${ids(songIds)}) as x(song_id)
        join songs s on s.song_id = x.song_id
        join song_listeners ls on ls.song_id = x.song_id
        cross join lateral (
          select p.song_b as candidate_id, c.artist_id, p.listeners as co, lc.listeners as candidate_listeners
          from pair_listeners p
          join songs c on c.song_id = p.song_b
          join song_listeners lc on lc.song_id = p.song_b
          where p.song_a = x.song_id and p.listeners >= ${k}
          order by p.listeners desc fetch first (${limit}::int) rows with ties
        ) n`,
  );
}

/** Replaces these songs' neighbour rows (and only theirs) with `next`. */
export async function replaceNeighbours(tx: Tx, songIds: readonly string[], next: readonly NeighbourRow[]): Promise<void> {
  if (songIds.length === 0) return;
  await exec(tx, sql`delete from song_neighbours where song_id = any(${ids(songIds)})`);
  if (next.length === 0) return;
  await exec(
    tx,
    sql`insert into song_neighbours (song_id, rank, neighbour_id, artist_id, co, score)
        select * from unnest(${ids(next.map((n) => n.songId))}, ${next.map((n) => n.rank)}::smallint[], ${ids(next.map((n) => n.neighbourId))},
          ${ids(next.map((n) => n.artistId))}, ${next.map((n) => n.co)}::int[], ${next.map((n) => n.score)}::float8[])`,
  );
}

// ---- Reads ----

/** One of the caller's songs: title and genre when published, null otherwise. */
export interface ListenerSong {
  song_id: string;
  title: string | null;
  genre: string | null;
  completions: number;
  last_completed_at: Date;
}

const NeighbourRead = z.object({ seed_id: z.string(), candidate_id: z.string(), artist_id: z.string(), co: count, similarity: z.number() });
export type NeighbourRead = z.output<typeof NeighbourRead>;

const InputRow = z.object({
  song_id: z.string(),
  title: z.string().nullable(),
  genre: z.string().nullable(),
  completions: count.nullable(),
  last_completed_at: time.nullable(),
  candidate_id: z.string().nullable(),
  artist_id: z.string().nullable(),
  co: count.nullable(),
  similarity: z.number().nullable(),
});

/**
 * All a recommendation reads, in one statement: the caller's songs, most recent first (the `recent`
 * most recent, and beyond them every one completed since `since`, at most `max` in all; title and
 * genre when published, null otherwise), and the `perSeed` strongest neighbours of each of the
 * `seeds` most recent published ones (one index range of the neighbour table per seed).
 */
export async function recommendationInputs(
  db: Session,
  userId: string,
  o: { since: Date; recent: number; seeds: number; perSeed: number; max?: number },
): Promise<{ songs: ListenerSong[]; neighbours: NeighbourRead[] }> {
  const found = await rows(
    db,
    InputRow,
    sql`with mine as (
          (select song_id, completions, last_completed_at from user_songs where user_id = ${userId} order by last_completed_at desc limit ${o.recent})
          union all
          (select song_id, completions, last_completed_at from user_songs where user_id = ${userId} and last_completed_at >= ${o.since}
           order by last_completed_at desc offset ${o.recent} limit ${Math.max(0, (o.max ?? 10_000) - o.recent)})
        ), listened as materialized (
          select m.song_id, s.title, s.genre, m.completions, m.last_completed_at
          from mine m left join lateral (select title, genre from songs where songs.song_id = m.song_id limit 1) s on true
        ), seeds as (
          select song_id from listened where title is not null order by last_completed_at desc limit ${o.seeds}
        )
        select song_id, title, genre, completions, last_completed_at,
               null::uuid as candidate_id, null::uuid as artist_id, null::int as co, null::float8 as similarity
        from listened
        union all
        select seeds.song_id, null, null, null, null, n.neighbour_id, n.artist_id, n.co, n.score
        from seeds cross join lateral (
          -- Per seed, an index range (a join could pick a scan of the whole table).
          select neighbour_id, artist_id, co, score from song_neighbours
          where song_id = seeds.song_id and rank <= ${o.perSeed} order by rank limit ${o.perSeed}
        ) n`,
  );
  const songs: ListenerSong[] = [];
  const neighbours: NeighbourRead[] = [];
  for (const r of found) {
    if (r.candidate_id === null)
      songs.push({ song_id: r.song_id, title: r.title, genre: r.genre, completions: r.completions!, last_completed_at: r.last_completed_at! });
    else neighbours.push({ seed_id: r.song_id, candidate_id: r.candidate_id, artist_id: r.artist_id!, co: r.co!, similarity: r.similarity! });
  }
  songs.sort((a, b) => b.last_completed_at.getTime() - a.last_completed_at.getTime());
  return { songs, neighbours };
}

/** Each seed's `perSeed` strongest neighbours (most co-listeners): one index range of the neighbour table per seed. */
export async function neighbours(db: Session, seedIds: readonly string[], perSeed: number): Promise<NeighbourRead[]> {
  if (seedIds.length === 0) return [];
  return rows(
    db,
    NeighbourRead,
    sql`select seed.song_id as seed_id, n.neighbour_id as candidate_id, n.artist_id, n.co, n.score as similarity
        from unnest(${ids(seedIds)}) as seed(song_id)
        cross join lateral (
          select neighbour_id, artist_id, co, score from song_neighbours
          where song_id = seed.song_id and rank <= ${perSeed} order by rank limit ${perSeed}
        ) n`,
  );
}

/** A song's neighbour rows in rank order (what the batches wrote). */
export async function neighbourRows(db: Session, songId: string): Promise<NeighbourRow[]> {
  const found = await rows(
    db,
    z.object({ song_id: z.string(), rank: count, neighbour_id: z.string(), artist_id: z.string(), co: count, score: z.number() }),
    sql`select song_id, rank, neighbour_id, artist_id, co, score from song_neighbours where song_id = ${songId} order by rank`,
  );
  return found.map((r) => ({ songId: r.song_id, rank: r.rank, neighbourId: r.neighbour_id, artistId: r.artist_id, co: r.co, score: r.score }));
}

/** The marked songs waiting for a batch. */
export async function dirtySongs(db: Session, limit = 1000): Promise<string[]> {
  const found = await rows(db, z.object({ song_id: z.string() }), sql`select song_id from neighbour_dirty order by since, song_id limit ${limit}`);
  return found.map((r) => r.song_id);
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
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score, s.published_at
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
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(t.listens, 0) as score, s.published_at
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
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score, s.published_at from songs s left join song_listeners l using (song_id) where s.song_id = ${songId}`,
  );
}

/** An artist's published songs, most listened first, except those served. */
export async function artistSongs(db: Session, artistId: string, served: readonly string[], limit: number): Promise<SongRow[]> {
  return rows(
    db,
    SongRow,
    sql`select s.song_id, s.artist_id, s.title, s.genre, coalesce(l.listeners, 0) as score, s.published_at
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
