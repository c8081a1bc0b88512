// catalog through the gateway, with identity booted for sign-ups: the journey from upload to a fan's
// library, the upload and stream routes (signatures, Range requests, any host name), entity
// references and the statements a listing costs. The use cases' rules are use-cases.test.ts'.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, graphqlClient, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/rewards/events';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '../src/index.ts';
import { signMedia } from '../src/domain/signed-url.ts';
import { makeWav } from './audio.ts';
import { createSong, grantPlan, newArtist, publishedSong, put, requestUpload, signUp } from './helpers.ts';

const SECRET = 'test-media-signing-secret-0123456789abcdef';
const SONG = `query Song($id: ID!) { song(id: $id) { id title genre status durationSeconds playCount streamUrl artist { id name } album { id title } } }`;
const SEARCH = `query SearchSongs($query: String!, $first: Int, $after: String) {
  searchSongs(query: $query, first: $first, after: $after) { totalCount edges { cursor node { id title artist { name } } } pageInfo { hasNextPage endCursor } } }`;
const SEARCH_WITH_ALBUM = `query SearchSongs($query: String!, $first: Int, $after: String) {
  searchSongs(query: $query, first: $first, after: $after) { totalCount edges { cursor node { id title artist { name } album { title } } } pageInfo { hasNextPage endCursor } } }`;
type SearchPage = {
  searchSongs: { totalCount: number; edges: { node: { id: string; title: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
};

let stack: TestStack;
let mediaDir: string;
let db: pg.Client;
let statements = 0;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-media-'));
  stack = await startTestStack(
    'catalog',
    [identitySubgraph, catalogSubgraph],
    // The relay and the transcoding worker poll only when kicked, so the statement count sees only the request's own SQL.
    { MEDIA_DIR: mediaDir, MEDIA_SIGNING_SECRET: SECRET, OUTBOX_RELAY_INTERVAL_MS: '600000', STREAM_WORKER_POLL_MS: '600000' },
    { onQuery: { catalog: () => void statements++ } },
  );
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

    // The fan keeps it in a playlist (the playlist rules are use-cases.test.ts').
    const playlist = await stack.gql<{ createPlaylist: { id: string } }>(`mutation { createPlaylist(name: "Late") { id name } }`, {}, { token: fan.token });
    const playlistId = playlist.data!.createPlaylist.id;
    const ADD = `mutation($playlistId: ID!, $songId: ID!) { addSongToPlaylist(playlistId: $playlistId, songId: $songId) { id songs(first: 50) { totalCount edges { node { id title } } } } }`;
    const added = await stack.gql<{ addSongToPlaylist: { songs: { totalCount: number; edges: { node: { id: string } }[] } } }>(
      ADD,
      { playlistId, songId },
      { token: fan.token },
    );
    expect(added.data!.addSongToPlaylist.songs.edges.map((e) => e.node.id)).toEqual([songId]);

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

describe('drafts', () => {
  // The other places a draft stays hidden (song, search, artist pages, playlists, trending) are use-cases.test.ts'.
  it('an entity reference from another subgraph resolves to null for others, and to the draft for its artist', async () => {
    const artist = await newArtist(stack, 'Secretive Sam');
    const draftId = await createSong(stack, artist.token, { title: 'Hidden Draft Tune', genre: 'Ambient' });
    const fan = await signUp(stack, 'FAN');
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
});

describe('what the gateway answers', () => {
  // The rules are use-cases.test.ts'; this is that the gateway serves them: answers that depend on the
  // viewer stay theirs, and a projection changed by another context's event shows (no stale answer).
  it("follows the viewer (an artist's own drafts) and the events catalog handled (listens into playCount)", async () => {
    const artist = await newArtist(stack, 'Seen By Whom');
    const fan = await signUp(stack, 'FAN');
    await createSong(stack, artist.token, { title: 'Only mine', genre: 'Ambient' });
    const ARTIST = `query($id: ID!) { artist(id: $id) { songs(first: 20) { totalCount edges { node { id } } } } }`;
    const songsSeenBy = async (token: string) =>
      (await stack.gql<{ artist: { songs: { totalCount: number } } }>(ARTIST, { id: artist.artistId }, { token })).data!.artist.songs.totalCount;
    expect(await songsSeenBy(fan.token)).toBe(0);
    expect(await songsSeenBy(artist.token)).toBe(1);
    expect(await songsSeenBy(fan.token)).toBe(0);

    const hit = await publishedSong(stack, artist.token, { title: 'Counted', genre: 'Pop' }, makeWav(1));
    expect((await stack.gql<SongData>(SONG, { id: hit }, { token: fan.token })).data!.song.playCount).toBe(0);
    const listen = { sessionId: randomUUID(), userId: randomUUID(), songId: hit, listenedSeconds: 30, completedAt: new Date().toISOString() };
    await publishEvent(stack, ListenCompleted, listen, { times: 2 });
    await publishEvent(stack, ListenCompleted, { ...listen, sessionId: randomUUID() });
    const song = await eventually(
      () => stack.gql<SongData>(SONG, { id: hit }, { token: fan.token }),
      (r) => r.data?.song.playCount === 2,
    );
    expect(song.data!.song.playCount).toBe(2);
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

const STREAM_INFO = `query SongStreamInfo($id: ID!) {
  song(id: $id) { id stream { status failureReason renditions { bitrateKbps codec } loudnessLufs truePeakDbtp waveform(points: 200) } }
}`;
const SONG_STREAM = `query SongStream($songId: ID!) { songStream(songId: $songId) { masterPlaylistUrl maxBitrateKbps expiresAt } }`;
type StreamInfo = {
  song: {
    stream: {
      status: string;
      failureReason: string | null;
      renditions: { bitrateKbps: number; codec: string }[];
      loudnessLufs: number | null;
      truePeakDbtp: number | null;
      waveform: number[];
    } | null;
  };
};

describe('streaming through the gateway (HLS)', () => {
  it("transcodes a published song; a FREE fan's session lists renditions up to 128 and plays them, key included, through the gateway", async () => {
    const artist = await newArtist(stack, 'Streaming Artist');
    // 44.1 kHz PCM: every rung of the ladder is made.
    const songId = await publishedSong(stack, artist.token, { title: 'Streamed Tune', genre: 'Test' }, makeWav(3, 44100));
    const info = await eventually(
      () => stack.gql<StreamInfo>(STREAM_INFO, { id: songId }),
      (r) => r.data?.song.stream?.status === 'READY',
      60_000,
    );
    const stream = info.data!.song.stream!;
    expect(stream).toMatchObject({ status: 'READY', failureReason: null });
    expect(stream.renditions).toEqual([64, 128, 256, 320].map((bitrateKbps) => ({ bitrateKbps, codec: 'aac' })));
    expect(Math.abs(stream.loudnessLufs! + 14)).toBeLessThanOrEqual(1);
    expect(stream.truePeakDbtp!).toBeLessThanOrEqual(-1);
    expect(stream.waveform).toHaveLength(200);

    const fan = await signUp(stack);
    expect((await stack.gql(SONG_STREAM, { songId })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const session = await stack.gql<{ songStream: { masterPlaylistUrl: string; maxBitrateKbps: number; expiresAt: string } }>(
      SONG_STREAM,
      { songId },
      { token: fan.token },
    );
    expect(session.errors).toBeUndefined();
    const { masterPlaylistUrl, maxBitrateKbps } = session.data!.songStream;
    expect(maxBitrateKbps).toBe(128);
    const at = (path: string) => fetch(new URL(path, stack.publicUrl));
    const master = await (await at(masterPlaylistUrl)).text();
    const variants = master.split('\n').filter((l) => l.startsWith('/'));
    expect(variants.map((v) => v.split('/')[4])).toEqual(['64', '128']);
    const playlist = await (await at(variants[1]!)).text();
    const keyUrl = /URI="([^"]+)"/.exec(playlist)![1]!;
    const key = await at(keyUrl);
    expect(key.status).toBe(200);
    expect((await key.arrayBuffer()).byteLength).toBe(16);
    const segments = playlist.split('\n').filter((l) => l.startsWith('/'));
    expect(segments.length).toBeGreaterThan(0);
    const segment = await at(segments[0]!);
    expect(segment.status).toBe(200);
    expect(segment.headers.get('content-type')).toBe('video/mp2t');
    expect((await segment.arrayBuffer()).byteLength).toBeGreaterThan(0);
    expect((await at(masterPlaylistUrl.replace('master.m3u8', '320/index.m3u8'))).status).toBe(403);
    expect((await at(keyUrl.replace('/128/', '/320/'))).status).toBe(403);
  });
});

describe('DataLoaders', () => {
  it('listing 10 or 100 songs with artist and album costs the same number of SQL statements', async () => {
    // 100 published songs over 20 artists and 20 albums, written straight to the tables as a fixture.
    const artists = Array.from({ length: 20 }, (_, i) => ({ id: randomUUID(), userId: randomUUID(), name: `Fixture Artist ${i}` }));
    for (const a of artists) {
      await db.query('insert into catalog.artists (id, user_id, name) values ($1, $2, $3)', [a.id, a.userId, a.name]);
      await db.query('insert into catalog.albums (id, artist_id, title) values ($1, $2, $3)', [a.id, a.id, `Album of ${a.name}`]);
    }
    for (let i = 0; i < 100; i++) {
      const a = artists[i % artists.length]!;
      await db.query(
        `insert into catalog.songs (id, artist_id, album_id, title, genre, status, artist_name, duration_seconds, media_key, media_content_type, media_bytes, media_etag, published_at)
         values ($1, $2, $2, $3, 'Fixture', 'PUBLISHED', $4, 60, 'k', 'audio/wav', 1, 'e', now())`,
        [randomUUID(), a.id, `Zebrafish ${i}`, a.name],
      );
    }
    // The songs published by the tests above are transcoded in the background: wait until that is done.
    await eventually(
      async () => (await db.query(`select 1 from catalog.stream_jobs where status in ('PENDING', 'PROCESSING')`)).rowCount,
      (n) => n === 0,
      60_000,
    );
    const count = async (first: number) => {
      statements = 0;
      const res = await stack.gql<SearchPage>(SEARCH_WITH_ALBUM, { query: 'zebrafish', first });
      expect(res.errors).toBeUndefined();
      expect(res.data!.searchSongs.edges).toHaveLength(first);
      expect(res.data!.searchSongs.edges.every((e) => (e.node as unknown as { album: { title: string } }).album.title.startsWith('Album of'))).toBe(true);
      return statements;
    };
    const ten = await count(10);
    const hundred = await count(100);
    expect(ten).toBeGreaterThan(0);
    expect(hundred).toBe(ten);
  });
});
