import { randomUUID } from 'node:crypto';
import { parseStream } from 'music-metadata';
import {
  badInput,
  conflict,
  forbidden,
  isUniqueViolation,
  notFound,
  recordEvent,
  requireAuth,
  requireRole,
  AppError,
  ErrorCode,
  type EntityManager,
  type Principal,
  isUuid,
} from '@vibestream/platform';
import type { CatalogConfig } from './config.ts';
import { Album, Artist, Playlist, Song, UploadTicket } from './entities.ts';
import { ArtistCreated, SongPublished } from './events.ts';
import { canonicalContentType } from './domain/media.ts';
import { checkUpload, FREE_LIMITS, type UploadLimits } from './domain/plans.ts';
import { signedMediaPath } from './domain/signed-url.ts';
import { MAX_ALBUM_SONGS, canSeeSong, checkIsrc, checkText, type Checked } from './domain/songs.ts';
import type { MediaStorage } from './storage/storage.ts';

export const SOURCE = 'catalog';

function valid<T>(checked: Checked<T>, prefix = 'input.'): T {
  if (!checked.ok) throw badInput(checked.message, `${prefix}${checked.field}`);
  return checked.value;
}

/** Kept exported here for this context's modules; the rule is the platform's. */
export { isUuid };

/** Catalog's use cases. Each runs in one transaction and writes its events to the outbox. */
export class CatalogService {
  private readonly config: CatalogConfig;
  private readonly storage: MediaStorage;
  private readonly signingSecret: string;
  private readonly onEventsCommitted: () => void;

  constructor(deps: { config: CatalogConfig; storage: MediaStorage; signingSecret: string; onEventsCommitted: () => void }) {
    this.config = deps.config;
    this.storage = deps.storage;
    this.signingSecret = deps.signingSecret;
    this.onEventsCommitted = deps.onEventsCommitted;
  }

  async createArtistProfile(em: EntityManager, principal: Principal | null, input: { name: string; bio?: string | null }): Promise<Artist> {
    const p = requireRole(principal, 'ARTIST');
    const name = valid(checkText('name', input.name, 120));
    const bio = input.bio?.trim() ? valid(checkText('bio', input.bio, 2000)) : null;
    try {
      const artist = await em.transactional(async (tx) => {
        if (await tx.count(Artist, { userId: p.userId })) throw conflict('You already have an artist profile');
        const created = tx.create(Artist, { id: randomUUID(), userId: p.userId, name, bio, createdAt: new Date() });
        recordEvent(tx, SOURCE, ArtistCreated, { artistId: created.id, userId: p.userId, name });
        await tx.flush();
        return created;
      });
      this.onEventsCommitted();
      return artist;
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('You already have an artist profile');
      throw error;
    }
  }

  async createAlbum(em: EntityManager, principal: Principal | null, input: { title: string; releaseDate?: Date | null }): Promise<Album> {
    const artist = await this.ownArtist(em, principal);
    const title = valid(checkText('title', input.title, 200));
    const album = em.create(Album, { id: randomUUID(), artistId: artist.id, title, releaseDate: input.releaseDate ?? null, createdAt: new Date() });
    await em.flush();
    return album;
  }

  async createSong(
    em: EntityManager,
    principal: Principal | null,
    input: { title: string; genre: string; albumId?: string | null; isrc?: string | null },
  ): Promise<Song> {
    const artist = await this.ownArtist(em, principal);
    const title = valid(checkText('title', input.title, 200));
    const genre = valid(checkText('genre', input.genre, 60));
    const isrc = valid(checkIsrc(input.isrc));
    const albumId = input.albumId ?? null;
    return em.transactional(async (tx) => {
      if (albumId) {
        // The album's row lock serialises additions to it, so concurrent ones cannot overfill it.
        const [album] = isUuid(albumId) ? ((await tx.execute('select artist_id from albums where id = ? for update', [albumId])) as { artist_id: string }[]) : [];
        if (!album || album.artist_id !== artist.id) throw badInput('albumId must be one of your albums', 'input.albumId');
        const [held] = (await tx.execute('select count(*)::int as n from songs where album_id = ?', [albumId])) as { n: number }[];
        if (held!.n >= MAX_ALBUM_SONGS) throw conflict(`This album already holds ${MAX_ALBUM_SONGS} songs, the most an album may`);
      }
      const song = tx.create(Song, {
        id: randomUUID(),
        artistId: artist.id,
        albumId,
        title,
        genre,
        isrc,
        status: 'DRAFT',
        artistName: artist.name,
        durationSeconds: null,
        codec: null,
        bitrateKbps: null,
        playCount: 0,
        mediaKey: null,
        mediaContentType: null,
        mediaBytes: null,
        mediaEtag: null,
        createdAt: new Date(),
        publishedAt: null,
      });
      await tx.flush();
      return song;
    });
  }

  async requestSongUpload(em: EntityManager, principal: Principal | null, songId: string, contentType: string, byteSize: number) {
    const p = requireAuth(principal);
    const song = await this.ownSong(em, p, songId);
    if (song.status === 'PUBLISHED') throw badInput('A published song cannot be replaced', 'songId');
    const canonical = canonicalContentType(contentType);
    if (!canonical) throw badInput('contentType must be one of audio/mpeg, audio/ogg, audio/flac, audio/wav, audio/mp4', 'contentType');
    if (!Number.isInteger(byteSize) || byteSize <= 0) throw badInput('byteSize must be a positive number of bytes', 'byteSize');

    const ticket = await em.transactional(async (tx) => {
      // Serialise one user's ticket requests so two at once cannot both take the last slot.
      await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`catalog:upload:${p.userId}`]);
      const limits = await this.uploadLimits(tx, p.userId);
      const usage = await this.uploadUsage(tx, p.userId);
      const check = checkUpload({ limits, byteSize, ...usage });
      if (!check.ok) {
        throw check.reason === 'too-large' ? badInput(check.message, 'byteSize') : new AppError(ErrorCode.PLAN_LIMIT_REACHED, check.message);
      }
      const created = tx.create(UploadTicket, {
        id: randomUUID(),
        songId: song.id,
        userId: p.userId,
        contentType: canonical,
        maxBytes: byteSize,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + this.config.UPLOAD_URL_TTL_SECONDS * 1000),
        usedAt: null,
        storedAt: null,
        storedBytes: null,
      });
      await tx.flush();
      return created;
    });
    const exp = Math.floor(ticket.expiresAt.getTime() / 1000);
    return { uploadUrl: signedMediaPath(this.signingSecret, 'upload', ticket.id, exp), expiresAt: ticket.expiresAt };
  }

  async publishSong(em: EntityManager, principal: Principal | null, songId: string): Promise<Song> {
    const p = requireAuth(principal);
    const song = await this.ownSong(em, p, songId);
    if (song.status === 'PUBLISHED') return song;
    if (!song.mediaKey || !song.mediaContentType) throw badInput('Upload the audio before publishing', 'songId');
    const metadata = await this.readAudioMetadata(song.mediaKey, song.mediaContentType, song.mediaBytes ?? undefined);
    const artist = await em.findOneOrFail(Artist, { id: song.artistId });
    const published = await em.transactional(async (tx) => {
      const rows = (await tx.execute(
        `update songs set status = 'PUBLISHED', published_at = now(), duration_seconds = ?, codec = ?, bitrate_kbps = ?
         where id = ? and status = 'DRAFT' returning published_at`,
        [metadata.durationSeconds, metadata.codec, metadata.bitrateKbps, song.id],
      )) as { published_at: Date }[];
      if (rows.length === 0) return false;
      recordEvent(tx, SOURCE, SongPublished, {
        songId: song.id,
        artistId: song.artistId,
        artistUserId: artist.userId,
        title: song.title,
        genre: song.genre,
        durationSeconds: metadata.durationSeconds,
        publishedAt: new Date(rows[0]!.published_at).toISOString(),
      });
      await tx.flush();
      return true;
    });
    if (published) this.onEventsCommitted();
    await em.refresh(song);
    return song;
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

  async createPlaylist(em: EntityManager, principal: Principal | null, name: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const playlist = em.create(Playlist, { id: randomUUID(), ownerId: p.userId, name: valid(checkText('name', name, 120), ''), createdAt: new Date() });
    await em.flush();
    return playlist;
  }

  async addSongToPlaylist(em: EntityManager, principal: Principal | null, playlistId: string, songId: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const playlist = await this.ownPlaylist(em, p, playlistId);
    await this.visibleSong(em, p.userId, songId);
    await em.execute('insert into playlist_songs (playlist_id, song_id) values (?, ?) on conflict do nothing', [playlist.id, songId]);
    return playlist;
  }

  async removeSongFromPlaylist(em: EntityManager, principal: Principal | null, playlistId: string, songId: string): Promise<Playlist> {
    const p = requireAuth(principal);
    const playlist = await this.ownPlaylist(em, p, playlistId);
    if (isUuid(songId)) await em.execute('delete from playlist_songs where playlist_id = ? and song_id = ?', [playlist.id, songId]);
    return playlist;
  }

  /** The song if the viewer may see it; NOT_FOUND otherwise (a draft of another artist does not exist for them). */
  async visibleSong(em: EntityManager, viewerUserId: string | null, songId: string): Promise<Song> {
    const song = isUuid(songId) ? await em.findOne(Song, { id: songId }) : null;
    if (!song) throw notFound('Song');
    if (song.status !== 'PUBLISHED') {
      const artist = await em.findOne(Artist, { id: song.artistId });
      if (!artist || !canSeeSong({ status: song.status, artistUserId: artist.userId }, viewerUserId)) throw notFound('Song');
    }
    return song;
  }

  private async ownArtist(em: EntityManager, principal: Principal | null): Promise<Artist> {
    const p = requireRole(principal, 'ARTIST');
    const artist = await em.findOne(Artist, { userId: p.userId });
    if (!artist) throw forbidden('Create your artist profile first');
    return artist;
  }

  private async ownSong(em: EntityManager, p: Principal, songId: string): Promise<Song> {
    const song = await this.visibleSong(em, p.userId, songId);
    const artist = await em.findOne(Artist, { id: song.artistId });
    if (artist?.userId !== p.userId) throw forbidden("Only the song's artist may do this");
    return song;
  }

  private async ownPlaylist(em: EntityManager, p: Principal, playlistId: string): Promise<Playlist> {
    const playlist = isUuid(playlistId) ? await em.findOne(Playlist, { id: playlistId }) : null;
    if (!playlist) throw notFound('Playlist');
    if (playlist.ownerId !== p.userId) throw forbidden("Only the playlist's owner may change it");
    return playlist;
  }

  async uploadLimits(em: EntityManager, userId: string): Promise<UploadLimits> {
    const rows = (await em.execute('select plan_id, uploads_monthly, storage_bytes from user_plans where user_id = ?', [userId])) as {
      plan_id: string;
      uploads_monthly: number | null;
      storage_bytes: string | number | null;
    }[];
    const row = rows[0];
    if (!row) return FREE_LIMITS;
    return { planId: row.plan_id, uploadsMonthly: row.uploads_monthly, storageBytes: row.storage_bytes === null ? null : Number(row.storage_bytes) };
  }

  /** Uploads this calendar month (UTC) and bytes stored, counting tickets still open as used. */
  async uploadUsage(em: EntityManager, userId: string): Promise<{ uploadsThisMonth: number; storageUsedBytes: number }> {
    const rows = (await em.execute(
      `select
         (select count(*) from upload_tickets t
           where t.user_id = ? and t.created_at >= date_trunc('month', now() at time zone 'utc') at time zone 'utc'
             and (t.stored_at is not null or (t.used_at is null and t.expires_at > now()))) as uploads,
         (select coalesce(sum(s.media_bytes), 0) from songs s join artists a on a.id = s.artist_id where a.user_id = ?)
         + (select coalesce(sum(t.max_bytes), 0) from upload_tickets t where t.user_id = ? and t.used_at is null and t.expires_at > now()) as bytes`,
      [userId, userId, userId],
    )) as { uploads: string; bytes: string }[];
    return { uploadsThisMonth: Number(rows[0]?.uploads ?? 0), storageUsedBytes: Number(rows[0]?.bytes ?? 0) };
  }
}
