// catalog's use cases on catalog's own schema, with other contexts' events injected (listens from
// listen.completed.v1, plans from billing.entitlements.changed.v1): no gateway, no other context
// booted. The service is called as the resolvers call it, with a Principal; audio is stored with the
// media storage module directly, as the upload route stores it. What crosses contexts or needs HTTP
// (sign-up through identity, the upload and stream routes with their signatures and Range requests,
// entity references) is catalog.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileTypeFromBuffer } from 'file-type';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badInput, type Principal, type Role } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { EntitlementsChanged } from '@vibestream/contracts/payments';
import { SongPublished } from '@vibestream/contracts/catalog';
import { loadCatalogConfig } from '../src/config.ts';
import { sniffedMatches } from '../src/domain/media.ts';
import { MAX_ALBUM_SONGS, normalizeSearchQuery } from '../src/domain/songs.ts';
import { catalogHandlers } from '../src/handlers.ts';
import { createLoaders, pageKey } from '../src/loaders.ts';
import { migrations } from '../src/migrations.ts';
import { CatalogService } from '../src/service.ts';
import { FilesystemStorage } from '../src/storage/filesystem.ts';
import * as store from '../src/store.ts';
import { makeWav } from './audio.ts';

const SECRET = 'test-media-signing-secret-0123456789abcdef';

let h: ContextHarness;
let mediaDir: string;
let storage: FilesystemStorage;
let service: CatalogService;

beforeAll(async () => {
  h = await openContext({ name: 'catalog', migrations });
  h.consume(catalogHandlers(h.db));
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-media-'));
  storage = new FilesystemStorage(mediaDir);
  const config = loadCatalogConfig({ DATABASE_URL: h.database.url, MEDIA_DIR: mediaDir, MEDIA_SIGNING_SECRET: SECRET });
  service = new CatalogService({ db: h.db, config, storage, signingSecret: SECRET });
});

afterAll(async () => {
  await h?.close();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

const as = (roles: Role[], userId = randomUUID()): Principal => ({ userId, roles, sessionId: 's', expiresAt: Date.now() / 1000 + 3600 });
const fan = () => as(['FAN']);

/** The error code a use case refused with, as the API would answer it. */
async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { extensions?: { code?: string } } | null;
  return error?.extensions?.code;
}

async function newArtist(name: string) {
  const principal = as(['ARTIST']);
  const artist = await service.createArtistProfile(principal, { name });
  return { principal, userId: principal.userId, artistId: artist.id };
}

const createSong = async (p: Principal, input: { title: string; genre: string; albumId?: string | null; isrc?: string | null }) =>
  (await service.createSong(p, input)).id;

/** What the upload route does once the signature, the size and the sniffed type passed: claim the ticket, store the bytes, point the song at them. */
async function storeUpload(songId: string, ticketUrl: string, audio: Buffer, contentType = 'audio/wav') {
  const ticketId = new URL(ticketUrl, 'http://media').pathname.split('/').pop()!;
  const key = `songs/${songId}/${randomUUID()}`;
  const stored = await storage.put(key, Readable.from([audio]), contentType);
  await h.db.useCase(async (tx) => {
    if (!(await store.claimTicket(tx, ticketId))) throw new Error(`ticket ${ticketId} could not be claimed`);
    await store.setSongMedia(tx, songId, { key, contentType, bytes: stored.bytes, etag: stored.etag });
    await store.markTicketStored(tx, ticketId, stored.bytes);
  });
}

async function upload(p: Principal, songId: string, audio: Buffer) {
  const ticket = await service.requestSongUpload(p, songId, 'audio/wav', audio.length);
  await storeUpload(songId, ticket.uploadUrl, audio);
}

async function uploadAndPublish(p: Principal, songId: string, audio: Buffer) {
  await upload(p, songId, audio);
  return service.publishSong(p, songId);
}

async function publishedSong(p: Principal, input: { title: string; genre: string; albumId?: string }, audio = makeWav(1)) {
  const id = await createSong(p, input);
  await uploadAndPublish(p, id, audio);
  return id;
}

/** Announces a plan for `userId` as billing does; handled once inject returns. */
async function grantPlan(userId: string, planId: string, uploadsMonthly: number | null) {
  await h.inject(EntitlementsChanged, {
    userId,
    planId,
    entitlements: [
      { key: 'uploads.monthly', limit: uploadsMonthly },
      { key: 'storage.bytes', limit: null },
    ],
    changedAt: new Date().toISOString(),
  });
}

/** searchSongs as the resolver runs it: the query normalized (BAD_USER_INPUT when empty), then the use case. */
async function search(query: string, first?: number, after?: string | null) {
  const q = normalizeSearchQuery(query);
  if (!q.ok) throw badInput(q.message, q.field);
  return service.search(q.value, first, after);
}

/** A listen.completed.v1 payload: a new listener's completed listen. */
function listen(songId: string, at = new Date()) {
  return { sessionId: randomUUID(), userId: randomUUID(), songId, listenedSeconds: 30, completedAt: at.toISOString() };
}

describe('rules', () => {
  it('profiles need the ARTIST role, and there is one per user', async () => {
    expect(await codeOf(service.createArtistProfile(fan(), { name: 'X' }))).toBe('FORBIDDEN');
    const artist = await newArtist('Once');
    expect(await codeOf(service.createArtistProfile(artist.principal, { name: 'Twice' }))).toBe('CONFLICT');
  });

  it('refuses bad song input with BAD_USER_INPUT', async () => {
    const artist = await newArtist('Strict');
    const other = await newArtist('Other');
    const foreignAlbum = await service.createAlbum(other.principal, { title: 'Theirs' });
    for (const input of [
      { title: '  ', genre: 'Pop' },
      { title: 'Ok', genre: 'Pop', isrc: 'not-an-isrc' },
      { title: 'Ok', genre: 'Pop', albumId: foreignAlbum.id },
    ]) {
      expect(await codeOf(service.createSong(artist.principal, input))).toBe('BAD_USER_INPUT');
    }
  });

  it('a draft is invisible to others everywhere', async () => {
    const artist = await newArtist('Secretive Sam');
    const draftId = await createSong(artist.principal, { title: 'Hidden Draft Tune', genre: 'Ambient' });
    const viewer = fan();

    expect(await codeOf(service.visibleSong(viewer.userId, draftId))).toBe('NOT_FOUND');
    expect(await codeOf(service.visibleSong(null, draftId))).toBe('NOT_FOUND');
    expect((await service.visibleSong(artist.userId, draftId)).status).toBe('DRAFT');

    expect((await search('Hidden Draft Tune')).totalCount).toBe(0);

    const songsOfArtist = (viewerUserId: string) => createLoaders(h.db.reader(), viewerUserId).artistSongs.load(pageKey(artist.artistId, 20, null));
    expect((await songsOfArtist(viewer.userId)).totalCount).toBe(0);
    expect((await songsOfArtist(artist.userId)).totalCount).toBe(1);

    const playlist = await service.createPlaylist(viewer, 'Mine');
    expect(await codeOf(service.addSongToPlaylist(viewer, playlist.id, draftId))).toBe('NOT_FOUND');

    // A listen event for a draft does not make it trend.
    await h.inject(ListenCompleted, listen(draftId));
    expect((await service.trending(50)).map((s) => s.id)).not.toContain(draftId);
  });

  it('only the song artist may upload or publish', async () => {
    const artist = await newArtist('Owner');
    const other = await newArtist('Intruder');
    const songId = await publishedSong(artist.principal, { title: 'Owned', genre: 'Rock' });
    const draftId = await createSong(artist.principal, { title: 'Owned draft', genre: 'Rock' });
    expect(await codeOf(service.requestSongUpload(other.principal, draftId, 'audio/wav', 100))).toBe('NOT_FOUND');
    expect(await codeOf(service.requestSongUpload(other.principal, songId, 'audio/wav', 100))).toBe('FORBIDDEN');
    expect(await codeOf(service.requestSongUpload(artist.principal, draftId, 'text/plain', 100))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.requestSongUpload(artist.principal, draftId, 'audio/wav', 0))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.requestSongUpload(artist.principal, draftId, 'audio/wav', 5 * 1024 ** 3 - 1))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.publishSong(other.principal, draftId))).toBe('NOT_FOUND');
  });
});

describe('albums', () => {
  it(`hold at most ${MAX_ALBUM_SONGS} songs, also when songs are added at the same time`, async () => {
    const artist = await newArtist('Completist');
    const album = await service.createAlbum(artist.principal, { title: 'Everything', releaseDate: new Date('2026-10-01T00:00:00.000Z') });
    expect(album).toMatchObject({ artistId: artist.artistId, title: 'Everything', releaseDate: new Date('2026-10-01T00:00:00.000Z') });
    // All but the last three written as a fixture; the rest through the use case, at once.
    await h.db.useCase(async (tx) => {
      for (let i = 0; i < MAX_ALBUM_SONGS - 3; i++) {
        await store.insertSong(tx, {
          id: randomUUID(),
          artistId: artist.artistId,
          albumId: album.id,
          title: `Track ${i}`,
          genre: 'Pop',
          isrc: null,
          artistName: 'Completist',
        });
      }
    });
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) => codeOf(service.createSong(artist.principal, { title: `Late ${i}`, genre: 'Pop', albumId: album.id }))),
    );
    expect(racing.filter((code) => code === undefined)).toHaveLength(3);
    expect(racing.filter((code) => code === 'CONFLICT')).toHaveLength(3);
    expect(await store.songCountOfAlbum(h.db.reader(), album.id)).toBe(MAX_ALBUM_SONGS);
    // The artist sees the album's drafts; others only its published songs.
    const songsOf = (viewerUserId: string) => createLoaders(h.db.reader(), viewerUserId).songsByAlbum.load(album.id);
    expect(await songsOf(artist.userId)).toHaveLength(MAX_ALBUM_SONGS);
    expect(await songsOf(randomUUID())).toEqual([]);
    // A song outside the album is still welcome.
    expect(await createSong(artist.principal, { title: 'Single', genre: 'Pop' })).toBeTruthy();
  });
});

describe('playlists', () => {
  it('adding a song twice is a no-op (one song_added event); only the owner may change a playlist; removing takes it out', async () => {
    const artist = await newArtist('Playlisted');
    const songId = await publishedSong(artist.principal, { title: 'On Repeat', genre: 'Pop' });
    const owner = fan();
    const playlist = await service.createPlaylist(owner, 'Late');
    const songsOf = async () => createLoaders(h.db.reader(), owner.userId).playlistSongs.load(pageKey(playlist.id, 50, null, 50));
    await service.addSongToPlaylist(owner, playlist.id, songId);
    await service.addSongToPlaylist(owner, playlist.id, songId);
    expect((await songsOf()).totalCount).toBe(1);
    // catalog.playlist.song_added.v1: once, by the add that inserted the row.
    const added = async () =>
      (await h.recorded('catalog.playlist.song_added.v1')).map((e) => e.payload).filter((p) => (p as { playlistId: string }).playlistId === playlist.id);
    expect(await added()).toEqual([{ playlistId: playlist.id, songId, userId: owner.userId, addedAt: expect.any(String) }]);
    expect(await codeOf(service.addSongToPlaylist(artist.principal, playlist.id, songId))).toBe('FORBIDDEN');
    expect(await codeOf(service.removeSongFromPlaylist(artist.principal, playlist.id, songId))).toBe('FORBIDDEN');
    expect(await codeOf(service.createPlaylist(owner, '   '))).toBe('BAD_USER_INPUT');
    await service.removeSongFromPlaylist(owner, playlist.id, songId);
    expect((await songsOf()).totalCount).toBe(0);
    // Added again after its removal: a new add.
    await service.addSongToPlaylist(owner, playlist.id, songId);
    expect(await added()).toHaveLength(2);
  });
});

describe('publishing', () => {
  it('publish refuses a song with no upload and bytes that are not decodable audio', async () => {
    const artist = await newArtist('Broken');
    await grantPlan(artist.userId, 'STUDIO', null);
    const empty = await createSong(artist.principal, { title: 'Nothing yet', genre: 'Pop' });
    expect(await codeOf(service.publishSong(artist.principal, empty))).toBe('BAD_USER_INPUT');

    // A RIFF/WAVE header (so it sniffs as WAV, and the upload route stores it) followed by garbage: not decodable audio.
    const fake = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0xff, 0xff, 0, 0]), Buffer.from('WAVE'), Buffer.alloc(3000, 7)]);
    expect(sniffedMatches('audio/wav', (await fileTypeFromBuffer(fake))?.mime)).toBe(true);
    const songId = await createSong(artist.principal, { title: 'Garbage', genre: 'Pop' });
    const ticket = await service.requestSongUpload(artist.principal, songId, 'audio/wav', fake.length);
    await storeUpload(songId, ticket.uploadUrl, fake);
    expect(await codeOf(service.publishSong(artist.principal, songId))).toBe('BAD_USER_INPUT');
    expect((await service.visibleSong(artist.userId, songId)).status).toBe('DRAFT');
  });

  it('publishes once with the audio’s duration, records song.published once, and then refuses a new upload', async () => {
    const artist = await newArtist('Clara Moonfield');
    const songId = await createSong(artist.principal, { title: 'Moonlight Serenade', genre: 'Jazz', isrc: 'US-RC1-76-07839' });
    const published = await uploadAndPublish(artist.principal, songId, makeWav(3));
    expect(published).toMatchObject({ status: 'PUBLISHED', durationSeconds: 3, isrc: 'USRC17607839' });
    expect((await service.publishSong(artist.principal, songId)).status).toBe('PUBLISHED');
    const events = (await h.recorded(SongPublished.type)).filter((e) => e.payload.songId === songId);
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ songId, artistId: artist.artistId, artistUserId: artist.userId, title: 'Moonlight Serenade', durationSeconds: 3 }),
    ]);
    expect(await codeOf(service.requestSongUpload(artist.principal, songId, 'audio/wav', 100))).toBe('BAD_USER_INPUT');
    expect(service.streamUrl(published)).toMatch(new RegExp(`^/media/stream/${songId}\\?exp=\\d+&sig=`));
  });

  it("answers PLAN_LIMIT_REACHED past the plan's monthly uploads, and a plan change lifts it", async () => {
    const artist = await newArtist('Prolific');
    const audio = makeWav(1);
    for (let i = 0; i < 3; i++) {
      const id = await createSong(artist.principal, { title: `Free ${i}`, genre: 'Pop' });
      await uploadAndPublish(artist.principal, id, audio);
    }
    const fourth = await createSong(artist.principal, { title: 'Free 4', genre: 'Pop' });
    expect(await codeOf(service.requestSongUpload(artist.principal, fourth, 'audio/wav', audio.length))).toBe('PLAN_LIMIT_REACHED');

    await grantPlan(artist.userId, 'CREATOR', 50);
    const after = await service.requestSongUpload(artist.principal, fourth, 'audio/wav', audio.length);
    expect(after.uploadUrl).toContain('/media/upload/');
  });
});

describe('search', () => {
  it('refuses an empty query and a page size over 100', async () => {
    expect(await codeOf(search('   '))).toBe('BAD_USER_INPUT');
    expect(await codeOf(search('x', 101))).toBe('BAD_USER_INPUT');
    expect(await codeOf(search('x', undefined, 'garbage'))).toBe('BAD_USER_INPUT');
  });

  it('ranks a title match over an artist-name match over a genre match', async () => {
    const artist = await newArtist('Velvet Horizon');
    await grantPlan(artist.userId, 'STUDIO', 1000);
    const byTitle = await publishedSong(artist.principal, { title: 'Horizon Lines', genre: 'Pop' });
    const other = await newArtist('Solar Flare');
    await grantPlan(other.userId, 'STUDIO', 1000);
    const byGenre = await publishedSong(other.principal, { title: 'Untitled', genre: 'Horizon Dub' });
    const byArtistName = await publishedSong(artist.principal, { title: 'Something Else', genre: 'Pop' });
    const res = await search('horizon', 10);
    const ids = res.edges.map((e) => e.node.id);
    expect(ids.indexOf(byTitle)).toBe(0);
    expect(ids.indexOf(byArtistName)).toBeGreaterThan(0);
    expect(ids.indexOf(byGenre)).toBeGreaterThan(ids.indexOf(byArtistName));
  });

  it('returns every published song exactly once across pages while new songs are being added', async () => {
    const artist = await newArtist('Drizzle Collective');
    await grantPlan(artist.userId, 'STUDIO', 1000);
    const initial: string[] = [];
    for (let i = 0; i < 18; i++) initial.push(await publishedSong(artist.principal, { title: `Rainfall ${i}`, genre: 'Ambient' }));

    const seen: string[] = [];
    let after: string | null = null;
    let added = 0;
    for (let page = 0; page < 50; page++) {
      const res: Awaited<ReturnType<typeof search>> = await search('rainfall', 5, after);
      seen.push(...res.edges.map((e) => e.node.id));
      // Meanwhile, more matching songs appear.
      await publishedSong(artist.principal, { title: `Rainfall late ${added++}`, genre: 'Ambient' });
      if (!res.pageInfo.hasNextPage) break;
      after = res.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of initial) expect(seen.filter((s) => s === id)).toHaveLength(1);
  });
});

describe('listens', () => {
  it('count each listen.completed.v1 once into playCount and trending', async () => {
    const artist = await newArtist('Chart Topper');
    await grantPlan(artist.userId, 'STUDIO', null);
    const hit = await publishedSong(artist.principal, { title: 'Big Hit', genre: 'Pop' });
    const minor = await publishedSong(artist.principal, { title: 'Minor Hit', genre: 'Pop' });
    await h.inject(ListenCompleted, listen(hit), { times: 2 });
    for (const payload of [listen(hit), listen(hit), listen(minor)]) await h.inject(ListenCompleted, payload);
    const playCount = async (id: string) => (await service.visibleSong(null, id)).playCount;
    expect(await playCount(hit)).toBe(3);
    const trending = await service.trending(10);
    expect(trending.find((s) => s.id === minor)?.playCount).toBe(1);
    const ids = trending.map((s) => s.id);
    expect(ids.indexOf(hit)).toBeLessThan(ids.indexOf(minor));
    // An old listen counts for playCount but not for the 7-day ranking.
    await h.inject(ListenCompleted, listen(minor, new Date(Date.now() - 8 * 86_400_000)));
    expect(await playCount(minor)).toBe(2);
    const again = (await service.trending(10)).map((s) => s.id);
    expect(again.indexOf(hit)).toBeLessThan(again.indexOf(minor));
    expect(await h.deadLetters(ListenCompleted.type)).toEqual([]);
  });
});
