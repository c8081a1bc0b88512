import { randomBytes, randomUUID } from 'node:crypto';
import { parseStream } from 'music-metadata';
import {
  badInput,
  conflict,
  forbidden,
  isUniqueViolation,
  notFound,
  requireAuth,
  requireRole,
  AppError,
  ErrorCode,
  type Persistence,
  type Principal,
  type Session,
  isUuid,
  rateLimited,
  type FailureLimiter,
} from '@vibestream/platform';
import type { CatalogConfig } from './config.ts';
import { ArtistCreated, PlaylistSongAdded, SongPublished } from './events.ts';
import { canonicalContentType } from './domain/media.ts';
import { checkUpload, FREE_LIMITS, type UploadLimits } from './domain/plans.ts';
import { signedMediaPath } from './domain/signed-url.ts';
import { grantQuery, hlsBase, streamLimitKbps } from './domain/streaming.ts';
import { MAX_ALBUM_SONGS, canSeeSong, checkIsrc, checkText, type Checked } from './domain/songs.ts';
import { searchSongs, trendingSongs } from './queries.ts';
import * as store from './store.ts';
import type { Album, Artist, Playlist, Song } from './store.ts';
import type { MediaStorage } from './storage/storage.ts';

function valid<T>(checked: Checked<T>, prefix = 'input.'): T {
  if (!checked.ok) throw badInput(checked.message, `${prefix}${checked.field}`);
  return checked.value;
}

const returned = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what}: the statement returned no row`);
  return value;
};

/** Kept exported here for this context's modules; the rule is the platform's. */
export { isUuid };

/** Catalog's use cases. Each change runs through `db.useCase`, its events in that transaction's outbox; the SQL is in store.ts. */
export class CatalogService {
  private readonly db: Persistence;
  private readonly config: CatalogConfig;
  private readonly storage: MediaStorage;
  private readonly signingSecret: string;
  private readonly streamStarts: FailureLimiter | null;
  private readonly onStreamJob: () => void;

  constructor(deps: {
    db: Persistence;
    config: CatalogConfig;
    storage: MediaStorage;
    signingSecret: string;
    /** Counts stream starts per user (songStream); without it they are not limited. */
    streamStarts?: FailureLimiter;
    /** Told when a transcoding job was enqueued (wakes this process's worker). */
    onStreamJob?: () => void;
  }) {
    this.db = deps.db;
    this.config = deps.config;
    this.storage = deps.storage;
    this.signingSecret = deps.signingSecret;
    this.streamStarts = deps.streamStarts ?? null;
    this.onStreamJob = deps.onStreamJob ?? (() => undefined);
  }

  async createArtistProfile(principal: Principal | null, input: { name: string; bio?: string | null }): Promise<Artist> {
    const p = requireRole(principal, 'ARTIST');
    const name = valid(checkText('name', input.name, 120));
    const bio = input.bio?.trim() ? valid(checkText('bio', input.bio, 2000)) : null;
    try {
      return await this.db.useCase(async (tx) => {
        if (await store.artistByUser(tx, p.userId)) throw conflict('You already have an artist profile');
        const created = returned(await store.insertArtist(tx, { id: randomUUID(), userId: p.userId, name, bio, createdAt: new Date() }), 'insert into artists');
        tx.outbox.record(ArtistCreated, { artistId: created.id, userId: p.userId, name });
        return created;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('You already have an artist profile');
      throw error;
    }
  }

  async createAlbum(principal: Principal | null, input: { title: string; releaseDate?: Date | null }): Promise<Album> {
    const artist = await this.ownArtist(principal);
    const title = valid(checkText('title', input.title, 200));
    return this.db.useCase(async (tx) =>
      returned(
        await store.insertAlbum(tx, { id: randomUUID(), artistId: artist.id, title, releaseDate: input.releaseDate ?? null, createdAt: new Date() }),
        'insert into albums',
      ),
    );
  }

  async createSong(principal: Principal | null, input: { title: string; genre: string; albumId?: string | null; isrc?: string | null }): Promise<Song> {
    const artist = await this.ownArtist(principal);
    const title = valid(checkText('title', input.title, 200));
    const genre = valid(checkText('genre', input.genre, 60));
    const isrc = valid(checkIsrc(input.isrc));
    const albumId = input.albumId ?? null;
    return this.db.useCase(async (tx) => {
      if (albumId) {
        // The album's row lock serialises additions to it, so concurrent ones cannot overfill it.
        const owner = isUuid(albumId) ? await store.lockAlbumArtist(tx, albumId) : undefined;
        if (owner !== artist.id) throw badInput('albumId must be one of your albums', 'input.albumId');
        if ((await store.songCountOfAlbum(tx, albumId)) >= MAX_ALBUM_SONGS)
          throw conflict(`This album already holds ${MAX_ALBUM_SONGS} songs, the most an album may`);
      }
      return returned(
        await store.insertSong(tx, { id: randomUUID(), artistId: artist.id, albumId, title, genre, isrc, artistName: artist.name }),
        'insert into songs',
      );
    });
  }

  async requestSongUpload(principal: Principal | null, songId: string, contentType: string, byteSize: number) {
    const p = requireAuth(principal);
    const song = await this.ownSong(p, songId);
    if (song.status === 'PUBLISHED') throw badInput('A published song cannot be replaced', 'songId');
    const canonical = canonicalContentType(contentType);
    if (!canonical) throw badInput('contentType must be one of audio/mpeg, audio/ogg, audio/flac, audio/wav, audio/mp4', 'contentType');
    if (!Number.isInteger(byteSize) || byteSize <= 0) throw badInput('byteSize must be a positive number of bytes', 'byteSize');

    const ticket = await this.db.useCase(async (tx) => {
      // Serialise one user's ticket requests so two at once cannot both take the last slot.
      await store.lockUploads(tx, p.userId);
      const limits = await this.uploadLimits(tx, p.userId);
      const usage = await store.uploadUsage(tx, p.userId);
      const check = checkUpload({ limits, byteSize, ...usage });
      if (!check.ok) {
        throw check.reason === 'too-large' ? badInput(check.message, 'byteSize') : new AppError(ErrorCode.PLAN_LIMIT_REACHED, check.message);
      }
      const expiresAt = new Date(Date.now() + this.config.UPLOAD_URL_TTL_SECONDS * 1000);
      return returned(
        await store.insertTicket(tx, { id: randomUUID(), songId: song.id, userId: p.userId, contentType: canonical, maxBytes: byteSize, expiresAt }),
        'insert into upload_tickets',
      );
    });
    const exp = Math.floor(ticket.expiresAt.getTime() / 1000);
    return { uploadUrl: signedMediaPath(this.signingSecret, 'upload', ticket.id, exp), expiresAt: ticket.expiresAt };
  }

  async publishSong(principal: Principal | null, songId: string): Promise<Song> {
    const p = requireAuth(principal);
    const song = await this.ownSong(p, songId);
    if (song.status === 'PUBLISHED') return song;
    if (!song.mediaKey || !song.mediaContentType) throw badInput('Upload the audio before publishing', 'songId');
    const metadata = await this.readAudioMetadata(song.mediaKey, song.mediaContentType, song.mediaBytes ?? undefined);
    const reader = this.db.reader();
    const [artist] = await store.artistsByIds(reader, [song.artistId]);
    if (!artist) throw notFound('Artist');
    const mediaKey = song.mediaKey;
    await this.db.useCase(async (tx) => {
      const publishedAt = await store.publishDraft(tx, song.id, metadata);
      if (!publishedAt) return;
      // Transcoding into HLS renditions starts now, on whichever replica's worker claims it.
      await store.enqueueStreamJob(tx, { songId: song.id, sourceKey: mediaKey, sourceBitrateKbps: metadata.bitrateKbps, encryptionKey: randomBytes(16) });
      tx.outbox.record(SongPublished, {
        songId: song.id,
        artistId: song.artistId,
        artistUserId: artist.userId,
        title: song.title,
        genre: song.genre,
        durationSeconds: metadata.durationSeconds,
        publishedAt: publishedAt.toISOString(),
      });
    });
    this.onStreamJob();
    return returned(await store.songById(reader, song.id), 'the published song');
  }

  /**
   * Starts an HLS stream session: a master playlist signed for the caller's session, listing the
   * renditions at or below their plan's stream.maxBitrateKbps as it is now (a plan change applies
   * at the next session). NOT_FOUND until the stream is READY; RATE_LIMITED beyond
   * STREAM_STARTS_PER_MINUTE a minute.
   */
  async songStream(principal: Principal | null, songId: string): Promise<{ masterPlaylistUrl: string; maxBitrateKbps: number; expiresAt: Date }> {
    const p = requireAuth(principal);
    const song = await this.visibleSong(p.userId, songId);
    const reader = this.db.reader();
    const [job] = await store.streamJobsBySongs(reader, [song.id]);
    if (job?.status !== 'READY' || !job.renditions?.length) throw notFound('Stream');
    if (this.streamStarts) {
      const reservation = await this.streamStarts.reserve([{ key: `catalog:stream-starts:${p.userId}`, limit: this.config.STREAM_STARTS_PER_MINUTE }]);
      if (!reservation.admitted) throw rateLimited('Too many stream sessions started; try again shortly', reservation.retryAfterSeconds);
    }
    const plan = await store.planLimitsOf(reader, p.userId);
    const limit = streamLimitKbps(plan ? { planId: plan.plan_id, streamMaxBitrateKbps: plan.stream_max_bitrate_kbps } : undefined);
    const allowed = job.renditions.map((r) => r.bitrateKbps).filter((kbps) => kbps <= limit);
    // The lowest rung is never above a plan's limit; should a plan allow less, it still gets the lowest.
    const maxBitrateKbps = allowed.length ? Math.max(...allowed) : Math.min(...job.renditions.map((r) => r.bitrateKbps));
    const exp = Math.floor(Date.now() / 1000) + this.config.STREAM_URL_TTL_SECONDS;
    const query = grantQuery(this.signingSecret, { songId: song.id, sessionId: p.sessionId, maxKbps: maxBitrateKbps, exp });
    return { masterPlaylistUrl: `${hlsBase(song.id)}/master.m3u8?${query}`, maxBitrateKbps, expiresAt: new Date(exp * 1000) };
  }

  /** Reads duration, codec and bitrate from the stored bytes; BAD_USER_INPUT when they are not decodable audio. */
  private async readAudioMetadata(key: string, contentType: string, size: number | undefined) {
    let format;
    try {
      const stream = await this.storage.read(key);
      try {
        ({ format } = await parseStream(stream, { mimeType: contentType, ...(size !== undefined ? { size } : {}) }, { duration: true, skipCovers: true }));
      } finally {
        stream.destroy();
      }
    } catch {
      throw badInput('The uploaded file is not decodable audio', 'songId');
    }
    if (!format.duration || !Number.isFinite(format.duration) || format.duration <= 0) {
      throw badInput('The uploaded file is not decodable audio', 'songId');
    }
    return {
      durationSeconds: Math.round(format.duration),
      codec: format.codec ?? format.container ?? null,
      bitrateKbps: format.bitrate ? Math.round(format.bitrate / 1000) : null,
    };
  }

  streamUrl(song: Song): string | null {
    if (!song.mediaKey) return null;
    const ttl = this.config.STREAM_URL_TTL_SECONDS;
    // Rounded to the minute so URLs (and media caches) are stable for a while.
    const exp = Math.ceil((Date.now() / 1000 + ttl) / 60) * 60;
    return signedMediaPath(this.signingSecret, 'stream', song.id, exp);
  }

  async createPlaylist(principal: Principal | null, name: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const checked = valid(checkText('name', name, 120), '');
    return this.db.useCase(async (tx) =>
      returned(await store.insertPlaylist(tx, { id: randomUUID(), ownerId: p.userId, name: checked, createdAt: new Date() }), 'insert into playlists'),
    );
  }

  async addSongToPlaylist(principal: Principal | null, playlistId: string, songId: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const playlist = await this.ownPlaylist(p, playlistId);
    await this.visibleSong(p.userId, songId);
    await this.db.useCase(async (tx) => {
      const addedAt = await store.addToPlaylist(tx, playlist.id, songId);
      // Only an add that inserted the row records it (adding a song already there changes nothing).
      if (addedAt) tx.outbox.record(PlaylistSongAdded, { playlistId: playlist.id, songId, userId: p.userId, addedAt: addedAt.toISOString() });
    });
    return playlist;
  }

  async removeSongFromPlaylist(principal: Principal | null, playlistId: string, songId: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const playlist = await this.ownPlaylist(p, playlistId);
    if (isUuid(songId)) await this.db.useCase((tx) => store.removeFromPlaylist(tx, playlist.id, songId));
    return playlist;
  }

  /** The song if the viewer may see it; NOT_FOUND otherwise (a draft of another artist does not exist for them). */
  async visibleSong(viewerUserId: string | null, songId: string): Promise<Song> {
    const reader = this.db.reader();
    const song = isUuid(songId) ? await store.songById(reader, songId) : undefined;
    if (!song) throw notFound('Song');
    if (song.status !== 'PUBLISHED') {
      const [artist] = await store.artistsByIds(reader, [song.artistId]);
      if (!artist || !canSeeSong({ status: song.status, artistUserId: artist.userId }, viewerUserId)) throw notFound('Song');
    }
    return song;
  }

  search(query: string, first: number | null | undefined, after: string | null | undefined) {
    return searchSongs(this.db.reader(), query, first, after);
  }

  trending(first: number | null | undefined): Promise<Song[]> {
    return trendingSongs(this.db.reader(), first, this.config.TRENDING_WINDOW_DAYS);
  }

  private async ownArtist(principal: Principal | null): Promise<Artist> {
    const p = requireRole(principal, 'ARTIST');
    const artist = await store.artistByUser(this.db.reader(), p.userId);
    if (!artist) throw forbidden('Create your artist profile first');
    return artist;
  }

  private async ownSong(p: Principal, songId: string): Promise<Song> {
    const song = await this.visibleSong(p.userId, songId);
    const [artist] = await store.artistsByIds(this.db.reader(), [song.artistId]);
    if (artist?.userId !== p.userId) throw forbidden("Only the song's artist may do this");
    return song;
  }

  private async ownPlaylist(p: Principal, playlistId: string): Promise<Playlist> {
    const [playlist] = isUuid(playlistId) ? await store.playlistsByIds(this.db.reader(), [playlistId]) : [];
    if (!playlist) throw notFound('Playlist');
    if (playlist.ownerId !== p.userId) throw forbidden("Only the playlist's owner may change it");
    return playlist;
  }

  async uploadLimits(db: Session, userId: string): Promise<UploadLimits> {
    const row = await store.planLimitsOf(db, userId);
    if (!row) return FREE_LIMITS;
    return { planId: row.plan_id, uploadsMonthly: row.uploads_monthly, storageBytes: row.storage_bytes };
  }
}
