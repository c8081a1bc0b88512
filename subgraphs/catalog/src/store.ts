import { exec, row, rows, sql, z, type Session, type Sql, type Tx } from '@vibestream/platform';

/**
 * catalog's SQL, all of it: bound parameters, each row parsed into the camelCase models the API
 * reads. Reads take any Session; writes take the Tx of a use case or an event handler.
 */

const timestamp = z.coerce.date();
const int = z.coerce.number().int();
const list = (values: readonly string[]) => sql.join(values);

export const Artist = z.object({ id: z.string(), userId: z.string(), name: z.string(), bio: z.string().nullable(), createdAt: timestamp });
export type Artist = z.output<typeof Artist>;
const artistColumns = (t: string) => sql.raw(`${t}.id, ${t}.user_id as "userId", ${t}.name, ${t}.bio, ${t}.created_at as "createdAt"`);

export const Album = z.object({ id: z.string(), artistId: z.string(), title: z.string(), releaseDate: timestamp.nullable(), createdAt: timestamp });
export type Album = z.output<typeof Album>;
const albumColumns = (t: string) =>
  sql.raw(`${t}.id, ${t}.artist_id as "artistId", ${t}.title, ${t}.release_date as "releaseDate", ${t}.created_at as "createdAt"`);

export const Song = z.object({
  id: z.string(),
  artistId: z.string(),
  albumId: z.string().nullable(),
  title: z.string(),
  genre: z.string(),
  isrc: z.string().nullable(),
  status: z.enum(['DRAFT', 'PUBLISHED']),
  artistName: z.string(),
  durationSeconds: int.nullable(),
  codec: z.string().nullable(),
  bitrateKbps: int.nullable(),
  playCount: int,
  mediaKey: z.string().nullable(),
  mediaContentType: z.string().nullable(),
  mediaBytes: int.nullable(),
  mediaEtag: z.string().nullable(),
  createdAt: timestamp,
  publishedAt: timestamp.nullable(),
});
export type Song = z.output<typeof Song>;
const songColumns = (t: string) =>
  sql.raw(
    `${t}.id, ${t}.artist_id as "artistId", ${t}.album_id as "albumId", ${t}.title, ${t}.genre, ${t}.isrc, ${t}.status, ${t}.artist_name as "artistName",
     ${t}.duration_seconds as "durationSeconds", ${t}.codec, ${t}.bitrate_kbps as "bitrateKbps", ${t}.play_count as "playCount", ${t}.media_key as "mediaKey",
     ${t}.media_content_type as "mediaContentType", ${t}.media_bytes as "mediaBytes", ${t}.media_etag as "mediaEtag", ${t}.created_at as "createdAt",
     ${t}.published_at as "publishedAt"`,
  );

export const Playlist = z.object({ id: z.string(), ownerId: z.string(), name: z.string(), createdAt: timestamp });
export type Playlist = z.output<typeof Playlist>;
const playlistColumns = (t: string) => sql.raw(`${t}.id, ${t}.owner_id as "ownerId", ${t}.name, ${t}.created_at as "createdAt"`);

export const Ticket = z.object({
  id: z.string(),
  songId: z.string(),
  userId: z.string(),
  contentType: z.string(),
  maxBytes: int,
  expiresAt: timestamp,
  usedAt: timestamp.nullable(),
});
export type Ticket = z.output<typeof Ticket>;
const ticketColumns = sql.raw(
  `id, song_id as "songId", user_id as "userId", content_type as "contentType", max_bytes as "maxBytes", expires_at as "expiresAt", used_at as "usedAt"`,
);

const Id = z.object({ id: z.string() });
const Count = z.object({ n: z.number() });

// ---- Artists and albums ----

export async function artistsByIds(db: Session, ids: readonly string[]): Promise<Artist[]> {
  return rows(db, Artist, sql`select ${artistColumns('a')} from artists a where a.id in (${list(ids)})`);
}

export async function artistsByUsers(db: Session, userIds: readonly string[]): Promise<Artist[]> {
  return rows(db, Artist, sql`select ${artistColumns('a')} from artists a where a.user_id in (${list(userIds)})`);
}

export async function artistByUser(db: Session, userId: string): Promise<Artist | undefined> {
  return row(db, Artist, sql`select ${artistColumns('a')} from artists a where a.user_id = ${userId}`);
}

export async function insertArtist(tx: Tx, a: Artist): Promise<Artist | undefined> {
  return row(
    tx,
    Artist,
    sql`insert into artists as a (id, user_id, name, bio, created_at) values (${a.id}, ${a.userId}, ${a.name}, ${a.bio}, ${a.createdAt}) returning ${artistColumns('a')}`,
  );
}

export async function albumsByIds(db: Session, ids: readonly string[]): Promise<Album[]> {
  return rows(db, Album, sql`select ${albumColumns('a')} from albums a where a.id in (${list(ids)})`);
}

export async function insertAlbum(tx: Tx, a: Album): Promise<Album | undefined> {
  return row(
    tx,
    Album,
    sql`insert into albums as a (id, artist_id, title, release_date, created_at) values (${a.id}, ${a.artistId}, ${a.title}, ${a.releaseDate}, ${a.createdAt})
        returning ${albumColumns('a')}`,
  );
}

/** Each artist's first `limit` albums in creation order. */
export async function firstAlbumsOfArtists(db: Session, artistIds: readonly string[], limit: number): Promise<Album[]> {
  return rows(
    db,
    Album,
    sql`select * from (select ${albumColumns('a')}, row_number() over (partition by a.artist_id order by a.created_at, a.id) as position
                       from albums a where a.artist_id in (${list(artistIds)})) x
        where x.position <= ${limit} order by x."createdAt", x.id`,
  );
}

const LockAlbumArtistRow = z.object({ artist_id: z.string() });

/** The album's owner, locked until commit (serialises additions to it); undefined when there is no such album. */
export async function lockAlbumArtist(tx: Tx, albumId: string): Promise<string | undefined> {
  return (await row(tx, LockAlbumArtistRow, sql`select artist_id from albums where id = ${albumId} for update`))?.artist_id;
}

export async function songCountOfAlbum(db: Session, albumId: string): Promise<number> {
  return (await row(db, Count, sql`select count(*)::int as n from songs where album_id = ${albumId}`))?.n ?? 0;
}

// ---- Songs ----

export async function songsByIds(db: Session, ids: readonly string[]): Promise<Song[]> {
  return rows(db, Song, sql`select ${songColumns('s')} from songs s where s.id in (${list(ids)})`);
}

export async function songById(db: Session, id: string): Promise<Song | undefined> {
  return row(db, Song, sql`select ${songColumns('s')} from songs s where s.id = ${id}`);
}

export async function insertSong(
  tx: Tx,
  s: { id: string; artistId: string; albumId: string | null; title: string; genre: string; isrc: string | null; artistName: string },
) {
  return row(
    tx,
    Song,
    sql`insert into songs as s (id, artist_id, album_id, title, genre, isrc, status, artist_name, play_count, created_at)
        values (${s.id}, ${s.artistId}, ${s.albumId}, ${s.title}, ${s.genre}, ${s.isrc}, 'DRAFT', ${s.artistName}, 0, ${new Date()})
        returning ${songColumns('s')}`,
  );
}

const PublishDraftRow = z.object({ published_at: timestamp });

/** Publishes a draft with its audio's metadata; answers when, or undefined when it was not a draft. */
export async function publishDraft(
  tx: Tx,
  songId: string,
  m: { durationSeconds: number; codec: string | null; bitrateKbps: number | null },
): Promise<Date | undefined> {
  const published = await row(
    tx,
    PublishDraftRow,
    sql`update songs set status = 'PUBLISHED', published_at = now(), duration_seconds = ${m.durationSeconds}, codec = ${m.codec}, bitrate_kbps = ${m.bitrateKbps}
        where id = ${songId} and status = 'DRAFT' returning published_at`,
  );
  return published?.published_at;
}

/** Songs of the albums visible to the viewer (published, or the viewer's own), in creation order. */
export async function songsOfAlbums(db: Session, albumIds: readonly string[], viewerUserId: string): Promise<Song[]> {
  return rows(
    db,
    Song,
    sql`select ${songColumns('s')} from songs s join artists a on a.id = s.artist_id
        where s.album_id in (${list(albumIds)}) and (s.status = 'PUBLISHED' or a.user_id = ${viewerUserId})
        order by s.created_at, s.id`,
  );
}

const LockSongMediaRow = z.object({ media_key: z.string().nullable(), status: z.string() });

/** The song's media and status, locked until commit. */
export async function lockSongMedia(tx: Tx, songId: string): Promise<{ media_key: string | null; status: string } | undefined> {
  return row(tx, LockSongMediaRow, sql`select media_key, status from songs where id = ${songId} for update`);
}

export async function setSongMedia(tx: Tx, songId: string, m: { key: string; contentType: string; bytes: number; etag: string }): Promise<void> {
  await exec(
    tx,
    sql`update songs set media_key = ${m.key}, media_content_type = ${m.contentType}, media_bytes = ${m.bytes}, media_etag = ${m.etag} where id = ${songId}`,
  );
}

const SongMediaRow = z.object({
  media_key: z.string().nullable(),
  media_content_type: z.string().nullable(),
  media_bytes: z.string().nullable(),
  media_etag: z.string().nullable(),
});

export async function songMedia(db: Session, songId: string) {
  return row(db, SongMediaRow, sql`select media_key, media_content_type, media_bytes, media_etag from songs where id = ${songId}`);
}

// ---- Search and trending ----

const searchQuery = (query: string) => sql`with q as (select websearch_to_tsquery('simple', ${query}) as tsq, ${query}::text as raw)`;
/** Title counts most, then artist name, then genre; both for whole words and for typos. */
const score = sql`(
  ts_rank(s.search_vector, q.tsq, 1)
  + greatest(
      word_similarity(q.raw, lower(s.title)),
      0.6 * word_similarity(q.raw, lower(s.artist_name)),
      0.3 * word_similarity(q.raw, lower(s.genre))
    )
)::float8`;
const match = sql`s.status = 'PUBLISHED' and (s.search_vector @@ q.tsq or q.raw <% s.search_text)`;

const SearchSongsRow = Song.extend({ score: z.number() });

/** Published songs matching `query`, best first, after the keyset (score, id). */
export async function searchSongs(db: Session, query: string, after: readonly [score: number, id: string] | null, limit: number) {
  const keyset = after ? sql`where (r.score < ${after[0]} or (r.score = ${after[0]} and r.id > ${after[1]}))` : sql``;
  return rows(
    db,
    SearchSongsRow,
    sql`${searchQuery(query)}
        select * from (select ${songColumns('s')}, ${score} as score from songs s, q where ${match}) r
        ${keyset}
        order by r.score desc, r.id asc
        limit ${limit}`,
  );
}

export async function searchCount(db: Session, query: string): Promise<number> {
  return (await row(db, Count, sql`${searchQuery(query)} select count(*)::int as n from songs s, q where ${match}`))?.n ?? 0;
}

/** Published songs ranked by completed listens in the window; ties by all-time plays. */
export async function trendingSongs(db: Session, windowDays: number, limit: number): Promise<Song[]> {
  return rows(
    db,
    Song,
    sql`select ${songColumns('s')} from songs s
        join (select song_id, count(*) as recent from listens where completed_at > now() - make_interval(days => ${windowDays}) group by song_id) l
          on l.song_id = s.id
        where s.status = 'PUBLISHED'
        order by l.recent desc, s.play_count desc, s.id
        limit ${limit}`,
  );
}

// ---- Pages of a parent's items (an artist's songs, a playlist's songs, a user's playlists) ----

export type PageKind = 'artistSongs' | 'playlistSongs' | 'playlistsByOwner';

/** The rows of each kind with their parent's id; the viewer decides which drafts they include. */
function pageSource(kind: PageKind, viewerUserId: string): Sql {
  switch (kind) {
    case 'artistSongs':
      return sql`select ${songColumns('s')}, s.artist_id as parent_id from songs s join artists a on a.id = s.artist_id
                 where s.status = 'PUBLISHED' or a.user_id = ${viewerUserId}`;
    case 'playlistSongs':
      return sql`select ${songColumns('s')}, ps.playlist_id as parent_id, ps.position as list_position from playlist_songs ps
                 join songs s on s.id = ps.song_id join artists a on a.id = s.artist_id
                 where s.status = 'PUBLISHED' or a.user_id = ${viewerUserId}`;
    case 'playlistsByOwner':
      return sql`select ${playlistColumns('p')}, p.owner_id as parent_id from playlists p`;
  }
}

/** A page's keyset: after (createdAt, id) newest first, or after a playlist position. */
export type PageAfter = { createdAt: string; id: string } | { position: number } | null;

const pageOrder = (kind: PageKind) => (kind === 'playlistSongs' ? sql`x.list_position asc` : sql`x."createdAt" desc, x.id desc`);
const pageKeyset = (after: PageAfter) =>
  after === null
    ? sql``
    : 'position' in after
      ? sql`and x.list_position > ${after.position}`
      : sql`and (x."createdAt", x.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`;

const pageMeta = z.object({ parent_id: z.string(), list_position: z.coerce.number().optional() });

const PageRowsRow = z.object({ node: z.unknown() });

/** Up to `limit` rows per parent, in the kind's order, after the keyset; each with its parent and position. */
export async function pageRows<T>(
  db: Session,
  kind: PageKind,
  schema: z.ZodType<T>,
  page: { parents: readonly string[]; viewerUserId: string; after: PageAfter; limit: number },
): Promise<{ node: T; parentId: string; position: number | undefined }[]> {
  const found = await rows(
    db,
    PageRowsRow,
    sql`select to_jsonb(paged) as node
        from (
          select x.*, row_number() over (partition by x.parent_id order by ${pageOrder(kind)}) as page_row
          from (${pageSource(kind, page.viewerUserId)}) x
          where x.parent_id in (${list(page.parents)}) ${pageKeyset(page.after)}
        ) paged where page_row <= ${page.limit} order by parent_id, page_row`,
  );
  return found.map((r) => {
    const meta = pageMeta.parse(r.node);
    return { node: schema.parse(r.node), parentId: meta.parent_id, position: meta.list_position };
  });
}

const PageCountsRow = z.object({ parent_id: z.string(), n: z.number() });

export async function pageCounts(db: Session, kind: PageKind, parents: readonly string[], viewerUserId: string): Promise<Map<string, number>> {
  const found = await rows(
    db,
    PageCountsRow,
    sql`select x.parent_id, count(*)::int as n from (${pageSource(kind, viewerUserId)}) x where x.parent_id in (${list(parents)}) group by x.parent_id`,
  );
  return new Map(found.map((c) => [c.parent_id, c.n]));
}

// ---- Playlists ----

export async function playlistsByIds(db: Session, ids: readonly string[]): Promise<Playlist[]> {
  return rows(db, Playlist, sql`select ${playlistColumns('p')} from playlists p where p.id in (${list(ids)})`);
}

export async function insertPlaylist(tx: Tx, p: Playlist): Promise<Playlist | undefined> {
  return row(
    tx,
    Playlist,
    sql`insert into playlists as p (id, owner_id, name, created_at) values (${p.id}, ${p.ownerId}, ${p.name}, ${p.createdAt}) returning ${playlistColumns('p')}`,
  );
}

/** Adds the song to the playlist; answers when it was added, or undefined when it already was there. */
export async function addToPlaylist(tx: Tx, playlistId: string, songId: string): Promise<Date | undefined> {
  const added = await row(
    tx,
    z.object({ added_at: z.union([z.string(), z.date()]).transform((v) => new Date(v)) }),
    sql`insert into playlist_songs (playlist_id, song_id) values (${playlistId}, ${songId}) on conflict do nothing returning added_at`,
  );
  return added?.added_at;
}

export async function removeFromPlaylist(tx: Tx, playlistId: string, songId: string): Promise<void> {
  await exec(tx, sql`delete from playlist_songs where playlist_id = ${playlistId} and song_id = ${songId}`);
}

// ---- Uploads ----

/** Serialises one user's upload-ticket requests until commit. */
export async function lockUploads(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`catalog:upload:${userId}`}))`);
}

const PlanLimitsOfRow = z.object({
  plan_id: z.string(),
  uploads_monthly: z.number().nullable(),
  storage_bytes: z.coerce.number().nullable(),
  stream_max_bitrate_kbps: z.number().nullable(),
});

export async function planLimitsOf(db: Session, userId: string) {
  return row(db, PlanLimitsOfRow, sql`select plan_id, uploads_monthly, storage_bytes, stream_max_bitrate_kbps from user_plans where user_id = ${userId}`);
}

const UploadUsageRow = z.object({ uploads: z.coerce.number(), bytes: z.coerce.number() });

/** Uploads this calendar month (UTC) and bytes stored, counting tickets still open as used. */
export async function uploadUsage(db: Session, userId: string): Promise<{ uploadsThisMonth: number; storageUsedBytes: number }> {
  const found = await row(
    db,
    UploadUsageRow,
    sql`select
          (select count(*) from upload_tickets t
            where t.user_id = ${userId} and t.created_at >= date_trunc('month', now() at time zone 'utc') at time zone 'utc'
              and (t.stored_at is not null or (t.used_at is null and t.expires_at > now()))) as uploads,
          (select coalesce(sum(s.media_bytes), 0) from songs s join artists a on a.id = s.artist_id where a.user_id = ${userId})
          + (select coalesce(sum(t.max_bytes), 0) from upload_tickets t where t.user_id = ${userId} and t.used_at is null and t.expires_at > now()) as bytes`,
  );
  return { uploadsThisMonth: found?.uploads ?? 0, storageUsedBytes: found?.bytes ?? 0 };
}

export async function insertTicket(
  tx: Tx,
  t: { id: string; songId: string; userId: string; contentType: string; maxBytes: number; expiresAt: Date },
): Promise<Ticket | undefined> {
  return row(
    tx,
    Ticket,
    sql`insert into upload_tickets (id, song_id, user_id, content_type, max_bytes, created_at, expires_at)
        values (${t.id}, ${t.songId}, ${t.userId}, ${t.contentType}, ${t.maxBytes}, ${new Date()}, ${t.expiresAt}) returning ${ticketColumns}`,
  );
}

export async function ticketById(db: Session, id: string): Promise<Ticket | undefined> {
  return row(db, Ticket, sql`select ${ticketColumns} from upload_tickets where id = ${id}`);
}

/** Single use: claims the ticket if unused and unexpired; answers whether it did. */
export async function claimTicket(tx: Tx, id: string): Promise<boolean> {
  return (
    (await rows(tx, Id, sql`update upload_tickets set used_at = now() where id = ${id} and used_at is null and expires_at > now() returning id`)).length > 0
  );
}

export async function markTicketStored(tx: Tx, id: string, bytes: number): Promise<void> {
  await exec(tx, sql`update upload_tickets set stored_at = now(), stored_bytes = ${bytes} where id = ${id}`);
}

// ---- Projections: listens, plans ----

const RecordListenRow = z.object({ event_id: z.string() });

/** Counts a completed listen once per event. */
export async function recordListen(tx: Tx, eventId: string, songId: string, completedAt: string): Promise<void> {
  const inserted = await rows(
    tx,
    RecordListenRow,
    sql`insert into listens (event_id, song_id, completed_at) values (${eventId}, ${songId}, ${completedAt}) on conflict do nothing returning event_id`,
  );
  if (inserted.length) await exec(tx, sql`update songs set play_count = play_count + 1 where id = ${songId}`);
}

/** Stores a user's plan limits; out-of-order delivery never rolls a newer plan back. */
export async function savePlanLimits(
  tx: Tx,
  p: {
    userId: string;
    planId: string;
    uploadsMonthly: number | null;
    storageBytes: number | null;
    streamMaxBitrateKbps: number | null;
    changedAt: string;
  },
): Promise<void> {
  await exec(
    tx,
    sql`insert into user_plans (user_id, plan_id, uploads_monthly, storage_bytes, stream_max_bitrate_kbps, changed_at)
        values (${p.userId}, ${p.planId}, ${p.uploadsMonthly}, ${p.storageBytes}, ${p.streamMaxBitrateKbps}, ${p.changedAt})
        on conflict (user_id) do update set plan_id = excluded.plan_id, uploads_monthly = excluded.uploads_monthly,
          storage_bytes = excluded.storage_bytes, stream_max_bitrate_kbps = excluded.stream_max_bitrate_kbps, changed_at = excluded.changed_at
        where user_plans.changed_at < excluded.changed_at`,
  );
}

// ---- Stream jobs (transcoding) ----

export const Rendition = z.object({ bitrateKbps: z.number().int(), codec: z.string() });
export type Rendition = z.output<typeof Rendition>;

export const StreamJob = z.object({
  songId: z.string(),
  status: z.enum(['PENDING', 'PROCESSING', 'READY', 'FAILED']),
  sourceKey: z.string(),
  sourceBitrateKbps: z.number().nullable(),
  attempt: z.number(),
  failureReason: z.string().nullable(),
  lastError: z.string().nullable(),
  outputPrefix: z.string().nullable(),
  renditions: z.array(Rendition).nullable(),
  loudnessLufs: z.number().nullable(),
  truePeakDbtp: z.number().nullable(),
  waveform: z.array(z.number()).nullable(),
});
export type StreamJob = z.output<typeof StreamJob>;
const jobColumns = sql.raw(
  `j.song_id as "songId", j.status, j.source_key as "sourceKey", j.source_bitrate_kbps as "sourceBitrateKbps", j.attempt,
   j.failure_reason as "failureReason", j.last_error as "lastError", j.output_prefix as "outputPrefix", j.renditions,
   j.loudness_lufs as "loudnessLufs", j.true_peak_dbtp as "truePeakDbtp", j.waveform`,
);

/** Makes the song's transcoding job (once: a second call for the same song changes nothing). */
export async function enqueueStreamJob(
  tx: Tx,
  j: { songId: string; sourceKey: string; sourceBitrateKbps: number | null; encryptionKey: Buffer },
): Promise<void> {
  await exec(
    tx,
    sql`insert into stream_jobs (song_id, source_key, source_bitrate_kbps, encryption_key)
        values (${j.songId}, ${j.sourceKey}, ${j.sourceBitrateKbps}, ${j.encryptionKey}) on conflict (song_id) do nothing`,
  );
}

export async function streamJobsBySongs(db: Session, songIds: readonly string[]): Promise<StreamJob[]> {
  return rows(db, StreamJob, sql`select ${jobColumns} from stream_jobs j where j.song_id in (${list(songIds)})`);
}

/**
 * Claims one due job for `workerId`: a PENDING one whose backoff is over, or a PROCESSING one whose
 * worker's lease lapsed (it died). Rows other workers hold are skipped, so replicas never wait on
 * each other. The claim starts a new attempt (the fencing token of heartbeat and finish).
 */
export async function claimStreamJob(tx: Tx, workerId: string, leaseSeconds: number): Promise<StreamJob | undefined> {
  return row(
    tx,
    StreamJob,
    sql`update stream_jobs j set status = 'PROCESSING', attempt = j.attempt + 1, worker_id = ${workerId},
          lease_until = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
        where j.song_id = (
          select song_id from stream_jobs
          where (status = 'PENDING' and run_after <= now()) or (status = 'PROCESSING' and lease_until < now())
          order by run_after limit 1 for update skip locked)
        returning ${jobColumns}`,
  );
}

/** Extends the lease of the worker's current attempt; false when the job is no longer its own. */
export async function heartbeatStreamJob(tx: Tx, songId: string, attempt: number, leaseSeconds: number): Promise<boolean> {
  return (
    (
      await rows(
        tx,
        Id,
        sql`update stream_jobs set lease_until = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
            where song_id = ${songId} and attempt = ${attempt} and status = 'PROCESSING' returning song_id as id`,
      )
    ).length > 0
  );
}

/** READY with the attempt's output; false when the attempt is not the current one (another worker took the job over). */
export async function finishStreamJob(
  tx: Tx,
  f: { songId: string; attempt: number; outputPrefix: string; renditions: Rendition[]; loudnessLufs: number; truePeakDbtp: number; waveform: number[] },
): Promise<boolean> {
  return (
    (
      await rows(
        tx,
        Id,
        sql`update stream_jobs set status = 'READY', output_prefix = ${f.outputPrefix}, renditions = ${JSON.stringify(f.renditions)}::jsonb,
              loudness_lufs = ${f.loudnessLufs}, true_peak_dbtp = ${f.truePeakDbtp}, waveform = ${JSON.stringify(f.waveform)}::jsonb,
              lease_until = null, worker_id = null, failure_reason = null, finished_at = now(), updated_at = now()
            where song_id = ${f.songId} and attempt = ${f.attempt} and status = 'PROCESSING' returning song_id as id`,
      )
    ).length > 0
  );
}

/** A failed attempt: FAILED with `reason` when `terminal`, else PENDING again after `retryInSeconds`. */
export async function failStreamJob(
  tx: Tx,
  f: { songId: string; attempt: number; error: string; terminal: boolean; reason: string | null; retryInSeconds: number },
): Promise<boolean> {
  return (
    (
      await rows(
        tx,
        Id,
        sql`update stream_jobs set status = ${f.terminal ? 'FAILED' : 'PENDING'}, last_error = ${f.error}, failure_reason = ${f.terminal ? f.reason : null},
              run_after = now() + make_interval(secs => ${f.retryInSeconds}), lease_until = null, worker_id = null,
              finished_at = ${f.terminal ? new Date() : null}, updated_at = now()
            where song_id = ${f.songId} and attempt = ${f.attempt} and status = 'PROCESSING' returning song_id as id`,
      )
    ).length > 0
  );
}

const KeyRow = z.object({ encryption_key: z.instanceof(Buffer) });

export async function streamEncryptionKey(db: Session, songId: string): Promise<Buffer | undefined> {
  return (await row(db, KeyRow, sql`select encryption_key from stream_jobs where song_id = ${songId}`))?.encryption_key;
}
