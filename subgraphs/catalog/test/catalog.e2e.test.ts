import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, eventually, graphqlClient, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/rewards/events';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '../src/index.ts';
import { signMedia } from '../src/domain/signed-url.ts';
import { makeWav } from './audio.ts';
import { createSong, grantPlan, newArtist, publishedSong, put, requestUpload, signUp, uploadAndPublish } from './helpers.ts';

const SECRET = 'test-media-signing-secret-0123456789abcdef';
const SONG = `query Song($id: ID!) { song(id: $id) { id title genre status durationSeconds playCount streamUrl artist { id name } album { id title } } }`;
const SEARCH = `query SearchSongs($query: String!, $first: Int, $after: String) {
  searchSongs(query: $query, first: $first, after: $after) { totalCount edges { cursor node { id title artist { name } } } pageInfo { hasNextPage endCursor } } }`;
const TRENDING = `query TrendingSongs($first: Int) { trendingSongs(first: $first) { id title playCount artist { name } } }`;

let stack: TestStack;
let mediaDir: string;
let db: pg.Client;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-media-'));
  stack = await startTestStack('catalog', [identitySubgraph, catalogSubgraph], { MEDIA_DIR: mediaDir, MEDIA_SIGNING_SECRET: SECRET });
  db = stack.db;
});
afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

type SongData = {
  song: {
    id: string;
    status: string;
    durationSeconds: number;
    playCount: number;
    streamUrl: string;
    artist: { name: string };
    album: { title: string } | null;
  };
};

describe('an artist publishes a song and a fan finds, streams and keeps it', () => {
  it('works end to end through the gateway', async () => {
    const artist = await newArtist(stack, 'Clara Moonfield');
    const album = await stack.gql<{ createAlbum: { id: string; title: string } }>(
      `mutation($input: CreateAlbumInput!) { createAlbum(input: $input) { id title releaseDate } }`,
      { input: { title: 'Night Pieces', releaseDate: '2026-10-01T00:00:00.000Z' } },
      { token: artist.token },
    );
    const albumId = album.data!.createAlbum.id;
    const songId = await createSong(stack, artist.token, { title: 'Moonlight Serenade', genre: 'Jazz', albumId, isrc: 'US-RC1-76-07839' });

    const audio = makeWav(3);
    const ticket = await requestUpload(stack, artist.token, songId, 'audio/wav', audio.length);
    expect(ticket.errors).toBeUndefined();
    // Relative to the gateway: it works from whatever address the client reached the API at.
    expect(ticket.data!.requestSongUpload.uploadUrl).toMatch(/^\/media\/upload\/[^/?]+\?exp=\d+&sig=/);
    const uploadUrl = new URL(ticket.data!.requestSongUpload.uploadUrl, stack.publicUrl);
    const uploaded = await put(uploadUrl.toString(), audio);
    expect(uploaded.status).toBe(201);

    const published = await uploadAndPublishOnly(artist.token, songId);
    expect(published).toMatchObject({ status: 'PUBLISHED', durationSeconds: 3 });

    const fan = await signUp(stack, 'FAN', 'Fan');
    const found = await stack.gql<{ searchSongs: { totalCount: number; edges: { node: { id: string; artist: { name: string } } }[] } }>(
      SEARCH,
      { query: 'moonlite serenad' },
      { token: fan.token },
    );
    expect(found.errors).toBeUndefined();
    expect(found.data!.searchSongs.edges[0]!.node).toMatchObject({ id: songId, artist: { name: 'Clara Moonfield' } });

    const song = await stack.gql<SongData>(SONG, { id: songId }, { token: fan.token });
    expect(song.data!.song).toMatchObject({ status: 'PUBLISHED', durationSeconds: 3, album: { title: 'Night Pieces' } });

    // Streaming with Range requests through the gateway.
    expect(song.data!.song.streamUrl).toMatch(/^\/media\/stream\/[^/?]+\?exp=\d+&sig=/);
    const streamUrl = new URL(song.data!.song.streamUrl, stack.publicUrl).toString();
    const full = await fetch(streamUrl);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('audio/wav');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(audio)).toBe(true);
    const etag = full.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);

    const partial = await fetch(streamUrl, { headers: { range: 'bytes=100-199' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes 100-199/${audio.length}`);
    expect(Buffer.from(await partial.arrayBuffer()).equals(audio.subarray(100, 200))).toBe(true);
    const suffix = await fetch(streamUrl, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(audio.subarray(audio.length - 10))).toBe(true);
    const beyond = await fetch(streamUrl, { headers: { range: `bytes=${audio.length + 5}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${audio.length}`);
    expect((await fetch(streamUrl, { headers: { 'if-none-match': etag } })).status).toBe(304);

    // Playlists: adding twice is a no-op.
    const playlist = await stack.gql<{ createPlaylist: { id: string } }>(`mutation { createPlaylist(name: "Late") { id name } }`, {}, { token: fan.token });
    const playlistId = playlist.data!.createPlaylist.id;
    const ADD = `mutation($playlistId: ID!, $songId: ID!) { addSongToPlaylist(playlistId: $playlistId, songId: $songId) { id songs(first: 50) { totalCount edges { node { id title } } } } }`;
    await stack.gql(ADD, { playlistId, songId }, { token: fan.token });
    const twice = await stack.gql<{ addSongToPlaylist: { songs: { totalCount: number } } }>(ADD, { playlistId, songId }, { token: fan.token });
    expect(twice.data!.addSongToPlaylist.songs.totalCount).toBe(1);
    expect(errorCode(await stack.gql(ADD, { playlistId, songId }, { token: artist.token }))).toBe('FORBIDDEN');

    const library = await stack.gql<{ me: { artistProfile: null; playlists: { totalCount: number; edges: { node: { name: string } }[] } } }>(
      `query MyLibrary { me { artistProfile { id name } playlists(first: 20) { totalCount edges { node { id name } } } } }`,
      {},
      { token: fan.token },
    );
    expect(library.data!.me).toEqual({ artistProfile: null, playlists: { totalCount: 1, edges: [{ node: { id: playlistId, name: 'Late' } }] } });
    const artistLibrary = await stack.gql<{ me: { artistProfile: { name: string } } }>(`{ me { artistProfile { id name } } }`, {}, { token: artist.token });
    expect(artistLibrary.data!.me.artistProfile.name).toBe('Clara Moonfield');
  });
});

async function uploadAndPublishOnly(token: string, songId: string) {
  const res = await stack.gql<{ publishSong: { status: string; durationSeconds: number } }>(
    `mutation($songId: ID!) { publishSong(songId: $songId) { id status durationSeconds } }`,
    { songId },
    { token },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.publishSong;
}

describe('rules', () => {
  it('profiles need the ARTIST role, and there is one per user', async () => {
    const fan = await signUp(stack, 'FAN');
    const denied = await stack.gql(`mutation { createArtistProfile(input: { name: "X" }) { id } }`, {}, { token: fan.token });
    expect(errorCode(denied)).toBe('FORBIDDEN');
    const artist = await newArtist(stack, 'Once');
    const again = await stack.gql(`mutation { createArtistProfile(input: { name: "Twice" }) { id } }`, {}, { token: artist.token });
    expect(errorCode(again)).toBe('CONFLICT');
  });

  it('refuses bad song input with BAD_USER_INPUT', async () => {
    const artist = await newArtist(stack, 'Strict');
    const other = await newArtist(stack, 'Other');
    const foreignAlbum = await stack.gql<{ createAlbum: { id: string } }>(
      `mutation { createAlbum(input: { title: "Theirs" }) { id } }`,
      {},
      { token: other.token },
    );
    const CREATE = `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`;
    for (const input of [
      { title: '  ', genre: 'Pop' },
      { title: 'Ok', genre: 'Pop', isrc: 'not-an-isrc' },
      { title: 'Ok', genre: 'Pop', albumId: foreignAlbum.data!.createAlbum.id },
    ]) {
      expect(errorCode(await stack.gql(CREATE, { input }, { token: artist.token }))).toBe('BAD_USER_INPUT');
    }
  });

  it('a draft is invisible to others everywhere', async () => {
    const artist = await newArtist(stack, 'Secretive Sam');
    const draftId = await createSong(stack, artist.token, { title: 'Hidden Draft Tune', genre: 'Ambient' });
    const fan = await signUp(stack, 'FAN');

    expect(errorCode(await stack.gql(SONG, { id: draftId }, { token: fan.token }))).toBe('NOT_FOUND');
    expect(errorCode(await stack.gql(SONG, { id: draftId }))).toBe('NOT_FOUND');
    expect((await stack.gql<SongData>(SONG, { id: draftId }, { token: artist.token })).data!.song.status).toBe('DRAFT');

    const search = await stack.gql<{ searchSongs: { totalCount: number } }>(SEARCH, { query: 'Hidden Draft Tune' }, { token: artist.token });
    expect(search.data!.searchSongs.totalCount).toBe(0);

    const ARTIST = `query($id: ID!) { artist(id: $id) { songs(first: 20) { totalCount edges { node { id } } } } }`;
    const asFan = await stack.gql<{ artist: { songs: { totalCount: number } } }>(ARTIST, { id: artist.artistId }, { token: fan.token });
    expect(asFan.data!.artist.songs.totalCount).toBe(0);
    const asArtist = await stack.gql<{ artist: { songs: { totalCount: number } } }>(ARTIST, { id: artist.artistId }, { token: artist.token });
    expect(asArtist.data!.artist.songs.totalCount).toBe(1);

    const playlist = await stack.gql<{ createPlaylist: { id: string } }>(`mutation { createPlaylist(name: "Mine") { id } }`, {}, { token: fan.token });
    const add = await stack.gql(
      `mutation($p: ID!, $s: ID!) { addSongToPlaylist(playlistId: $p, songId: $s) { id } }`,
      { p: playlist.data!.createPlaylist.id, s: draftId },
      { token: fan.token },
    );
    expect(errorCode(add)).toBe('NOT_FOUND');

    // A listen event for a draft does not make it trend.
    await publishEvent(stack, ListenCompleted, listen(draftId));
    await new Promise((r) => setTimeout(r, 300));
    const trending = await stack.gql<{ trendingSongs: { id: string }[] }>(TRENDING, { first: 50 });
    expect(trending.data!.trendingSongs.map((s) => s.id)).not.toContain(draftId);

    // An entity reference from another subgraph resolves to null for others.
    const entities = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Song { id title } } }`;
    const viaFan = await stack.subgraph('catalog')<{ _entities: unknown[] }>(entities, { r: [{ __typename: 'Song', id: draftId }] }, { token: fan.token });
    expect(viaFan.data!._entities).toEqual([null]);
    const viaArtist = await stack.subgraph('catalog')<{ _entities: unknown[] }>(
      entities,
      { r: [{ __typename: 'Song', id: draftId }] },
      { token: artist.token },
    );
    expect(viaArtist.data!._entities).toEqual([{ id: draftId, title: 'Hidden Draft Tune' }]);
  });

  it('only the song artist may upload or publish', async () => {
    const artist = await newArtist(stack, 'Owner');
    const other = await newArtist(stack, 'Intruder');
    const songId = await publishedSong(stack, artist.token, { title: 'Owned', genre: 'Rock' }, makeWav(1));
    const draftId = await createSong(stack, artist.token, { title: 'Owned draft', genre: 'Rock' });
    expect(errorCode(await requestUpload(stack, other.token, draftId, 'audio/wav', 100))).toBe('NOT_FOUND');
    expect(errorCode(await requestUpload(stack, other.token, songId, 'audio/wav', 100))).toBe('FORBIDDEN');
    expect(errorCode(await requestUpload(stack, artist.token, draftId, 'text/plain', 100))).toBe('BAD_USER_INPUT');
    expect(errorCode(await requestUpload(stack, artist.token, draftId, 'audio/wav', 0))).toBe('BAD_USER_INPUT');
    expect(errorCode(await requestUpload(stack, artist.token, draftId, 'audio/wav', 5 * 1024 ** 3 - 1))).toBe('BAD_USER_INPUT');
  });
});

describe('media URLs', () => {
  it('work from whichever host name the client reached the gateway at', async () => {
    const artist = await newArtist(stack, 'Any Host');
    const songId = await createSong(stack, artist.token, { title: 'Everywhere', genre: 'Pop' });
    const audio = makeWav(1);
    const port = new URL(stack.publicUrl).port;
    // The artist's page on localhost uploads, a fan's on 127.0.0.1 streams: the URLs name no host.
    for (const [origin, role] of [
      [`http://localhost:${port}`, 'upload'],
      [`http://127.0.0.1:${port}`, 'stream'],
    ] as const) {
      const gql = graphqlClient(`${origin}/graphql`);
      if (role === 'upload') {
        const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
          `mutation($songId: ID!) { requestSongUpload(songId: $songId, contentType: "audio/wav", byteSize: ${audio.length}) { uploadUrl } }`,
          { songId },
          { token: artist.token },
        );
        const uploadUrl = new URL(ticket.data!.requestSongUpload.uploadUrl, origin);
        expect(uploadUrl.origin).toBe(origin);
        expect((await put(uploadUrl, audio)).status).toBe(201);
        expect((await uploadAndPublishOnly(artist.token, songId)).status).toBe('PUBLISHED');
      } else {
        const song = await gql<{ song: { streamUrl: string } }>(`query($id: ID!) { song(id: $id) { streamUrl } }`, { id: songId });
        const streamed = await fetch(new URL(song.data!.song.streamUrl, origin), { headers: { range: 'bytes=0-3' } });
        expect(streamed.status).toBe(206);
        expect(Buffer.from(await streamed.arrayBuffer()).toString()).toBe('RIFF');
      }
    }
  });
});

describe('upload URLs', () => {
  it('are single use, refused after expiry or tampering, and check the bytes', async () => {
    const artist = await newArtist(stack, 'Uploader');
    await grantPlan(stack, db, artist.userId, 'STUDIO', null);
    const songId = await createSong(stack, artist.token, { title: 'Single use', genre: 'Pop' });
    const audio = makeWav(1);

    const first = new URL((await requestUpload(stack, artist.token, songId, 'audio/wav', audio.length)).data!.requestSongUpload.uploadUrl, stack.publicUrl);
    expect((await put(first, audio)).status).toBe(201);
    expect((await put(first, audio)).status).toBe(410);

    const second = new URL((await requestUpload(stack, artist.token, songId, 'audio/wav', audio.length)).data!.requestSongUpload.uploadUrl, stack.publicUrl);
    const ticketId = second.pathname.split('/').pop()!;
    const tampered = new URL(second);
    tampered.searchParams.set(
      'sig',
      second.searchParams.get('sig')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
    );
    expect((await put(tampered.toString(), audio)).status).toBe(403);
    const past = Math.floor(Date.now() / 1000) - 5;
    const expiredUrl = new URL(second);
    expiredUrl.searchParams.set('exp', String(past));
    expiredUrl.searchParams.set('sig', signMedia(SECRET, 'upload', ticketId, past));
    expect((await put(expiredUrl.toString(), audio)).status).toBe(403);
    await db.query(`update catalog.upload_tickets set expires_at = now() - interval '1 second' where id = $1`, [ticketId]);
    expect((await put(second.toString(), audio)).status).toBe(403);

    // Bytes that are not the declared audio are refused whatever the header says.
    const third = new URL((await requestUpload(stack, artist.token, songId, 'audio/wav', 2000)).data!.requestSongUpload.uploadUrl, stack.publicUrl);
    expect((await put(third, Buffer.from('<html>not audio</html>'.repeat(50)))).status).toBe(415);
    // A body larger than requested is refused.
    const fourth = new URL((await requestUpload(stack, artist.token, songId, 'audio/wav', 100)).data!.requestSongUpload.uploadUrl, stack.publicUrl);
    expect((await put(fourth, audio)).status).toBe(413);
  });

  it('publish refuses a song with no upload and bytes that are not decodable audio', async () => {
    const artist = await newArtist(stack, 'Broken');
    await grantPlan(stack, db, artist.userId, 'STUDIO', null);
    const empty = await createSong(stack, artist.token, { title: 'Nothing yet', genre: 'Pop' });
    const PUBLISH = `mutation($songId: ID!) { publishSong(songId: $songId) { id status } }`;
    expect(errorCode(await stack.gql(PUBLISH, { songId: empty }, { token: artist.token }))).toBe('BAD_USER_INPUT');

    // A RIFF/WAVE header (so it sniffs as WAV) followed by garbage: not decodable audio.
    const fake = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0xff, 0xff, 0, 0]), Buffer.from('WAVE'), Buffer.alloc(3000, 7)]);
    const songId = await createSong(stack, artist.token, { title: 'Garbage', genre: 'Pop' });
    const url = (await requestUpload(stack, artist.token, songId, 'audio/wav', fake.length)).data!.requestSongUpload.uploadUrl;
    expect((await put(url, fake, 'audio/wav', stack.publicUrl)).status).toBe(201);
    expect(errorCode(await stack.gql(PUBLISH, { songId }, { token: artist.token }))).toBe('BAD_USER_INPUT');
    expect((await stack.gql<SongData>(SONG, { id: songId }, { token: artist.token })).data!.song.status).toBe('DRAFT');
  });

  it("answers PLAN_LIMIT_REACHED past the plan's monthly uploads, and a plan change lifts it", async () => {
    const artist = await newArtist(stack, 'Prolific');
    const audio = makeWav(1);
    for (let i = 0; i < 3; i++) {
      const id = await createSong(stack, artist.token, { title: `Free ${i}`, genre: 'Pop' });
      await uploadAndPublish(stack, artist.token, id, audio);
    }
    const fourth = await createSong(stack, artist.token, { title: 'Free 4', genre: 'Pop' });
    expect(errorCode(await requestUpload(stack, artist.token, fourth, 'audio/wav', audio.length))).toBe('PLAN_LIMIT_REACHED');

    await grantPlan(stack, db, artist.userId, 'CREATOR', 50);
    const after = await eventually(
      () => requestUpload(stack, artist.token, fourth, 'audio/wav', audio.length),
      (r) => !!r.data,
    );
    expect(after.data!.requestSongUpload.uploadUrl).toContain('/media/upload/');
  });
});

describe('streaming', () => {
  it('refuses a tampered or expired signature with 403', async () => {
    const artist = await newArtist(stack, 'Streamer');
    await grantPlan(stack, db, artist.userId, 'STUDIO', null);
    const songId = await publishedSong(stack, artist.token, { title: 'Signed', genre: 'Pop' }, makeWav(1));
    const streamUrl = new URL((await stack.gql<SongData>(SONG, { id: songId })).data!.song.streamUrl, stack.publicUrl);
    expect((await fetch(streamUrl)).status).toBe(200);
    const tampered = new URL(streamUrl);
    tampered.searchParams.set('exp', String(Number(streamUrl.searchParams.get('exp')) + 60));
    expect((await fetch(tampered)).status).toBe(403);
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = new URL(streamUrl);
    expired.searchParams.set('exp', String(past));
    expired.searchParams.set('sig', signMedia(SECRET, 'stream', songId, past));
    expect((await fetch(expired)).status).toBe(403);
    // An upload signature never opens a stream.
    const crossed = new URL(streamUrl);
    crossed.searchParams.set('sig', signMedia(SECRET, 'upload', songId, Number(streamUrl.searchParams.get('exp'))));
    expect((await fetch(crossed)).status).toBe(403);
  });
});

describe('listens', () => {
  it('count each listen.completed.v1 once into playCount and trending', async () => {
    const artist = await newArtist(stack, 'Chart Topper');
    await grantPlan(stack, db, artist.userId, 'STUDIO', null);
    const hit = await publishedSong(stack, artist.token, { title: 'Big Hit', genre: 'Pop' }, makeWav(1));
    const minor = await publishedSong(stack, artist.token, { title: 'Minor Hit', genre: 'Pop' }, makeWav(1));
    await publishEvent(stack, ListenCompleted, listen(hit), { times: 2 });
    for (const payload of [listen(hit), listen(hit), listen(minor)]) await publishEvent(stack, ListenCompleted, payload);
    const song = await eventually(
      () => stack.gql<SongData>(SONG, { id: hit }),
      (r) => r.data?.song.playCount === 3,
    );
    expect(song.data!.song.playCount).toBe(3);
    const trending = await eventually(
      () => stack.gql<{ trendingSongs: { id: string; playCount: number }[] }>(TRENDING, { first: 10 }),
      (r) => (r.data?.trendingSongs.find((s) => s.id === minor)?.playCount ?? 0) === 1,
    );
    const ids = trending.data!.trendingSongs.map((s) => s.id);
    expect(ids.indexOf(hit)).toBeLessThan(ids.indexOf(minor));
    // An old listen counts for playCount but not for the 7-day ranking.
    await publishEvent(stack, ListenCompleted, listen(minor, new Date(Date.now() - 8 * 86_400_000)));
    await eventually(
      () => stack.gql<SongData>(SONG, { id: minor }),
      (r) => r.data?.song.playCount === 2,
    );
    const again = await stack.gql<{ trendingSongs: { id: string }[] }>(TRENDING, { first: 10 });
    expect(again.data!.trendingSongs.map((s) => s.id).indexOf(hit)).toBeLessThan(again.data!.trendingSongs.map((s) => s.id).indexOf(minor));
  });
});

/** A listen.completed.v1 payload: a new listener's completed listen. */
function listen(songId: string, at = new Date()) {
  return { sessionId: crypto.randomUUID(), userId: crypto.randomUUID(), songId, listenedSeconds: 30, completedAt: at.toISOString() };
}
