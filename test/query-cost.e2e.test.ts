// Issue 13, finding 4: a query's cost follows the data. Every list of the graph has a declared
// size (@listSize: a capped `first`, or a maximum the subgraph enforces) and the gateway's cost
// estimate uses it, so nesting an album's songs in their album's songs is refused before any
// subgraph runs; the subgraphs hold the same bounds; an answer over MAX_RESPONSE_BYTES is refused.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { readCostDirectives } from '@vibestream/platform';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '@vibestream/ownership';
import { campaignsSubgraph } from '@vibestream/campaigns';
import { MAX_ALBUM_SONGS } from '@vibestream/catalog/domain/songs.ts';
import { createSong, newArtist } from '@vibestream/catalog/testing';

const MAX_RESPONSE_BYTES = 10_000;
let stack: TestStack;
let mediaDir: string;
let artist: Awaited<ReturnType<typeof newArtist>>;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-cost-'));
  stack = await startTestStack('querycost', [identitySubgraph, catalogSubgraph, ownershipSubgraph, campaignsSubgraph], {
    MEDIA_DIR: mediaDir,
    MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
  });
  artist = await newArtist(stack, 'Long Player');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

async function newAlbum(title: string): Promise<string> {
  const res = await stack.gql<{ createAlbum: { id: string } }>(
    `mutation($input: CreateAlbumInput!) { createAlbum(input: $input) { id } }`,
    { input: { title } },
    { token: artist.token },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return res.data.createAlbum.id;
}

function addSong(albumId: string, n: number) {
  return stack.gql<{ createSong: { id: string } }>(
    `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
    { input: { title: `Track ${n}`, genre: 'Test', albumId } },
    { token: artist.token },
  );
}

describe('an album nested in its own songs', () => {
  it('is refused by cost before it runs, however few songs the estimate would have guessed', async () => {
    const albumId = await newAlbum('Forty Tracks');
    for (let n = 1; n <= 40; n++) await createSong(stack, artist.token, { title: `Track ${n}`, genre: 'Test', albumId });
    // 40 x 40 x 40 = 64,000 ids; a list without a declared size used to count as 10 (an estimate of about 1,221).
    const nested = await stack.gql(
      `query($id: ID!) { album(id: $id) { songs { album { songs { album { songs { id } } } } } } }`,
      { id: albumId },
      { token: artist.token },
    );
    expect(nested.status).toBe(400);
    expect(nested.data).toBeUndefined();
    expect(nested.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'cost', max: 5000 });
    expect(nested.errors![0]!.extensions!.actual as number).toBeGreaterThan(MAX_ALBUM_SONGS ** 3);

    // The album itself, its songs with their artist: within the limits, and served.
    const plain = await stack.gql<{ album: { songs: { id: string }[] } }>(
      `query($id: ID!) { album(id: $id) { title songs { id artist { name } } } }`,
      { id: albumId },
      { token: artist.token },
    );
    expect(plain.errors).toBeUndefined();
    expect(plain.data!.album.songs).toHaveLength(40);
  });
});

describe('the bounds the schema declares, held by the subgraphs', () => {
  it(`an album holds at most MAX_ALBUM_SONGS songs, even when they are added at once (Album.songs is declared that size)`, async () => {
    expect(readCostDirectives(catalogSubgraph.sdl).listSizes.get('Album.songs')?.assumedSize).toBe(MAX_ALBUM_SONGS);
    const albumId = await newAlbum('Box Set');
    const results = await Promise.all(Array.from({ length: MAX_ALBUM_SONGS + 5 }, (_, n) => addSong(albumId, n)));
    expect(results.filter((r) => r.data?.createSong)).toHaveLength(MAX_ALBUM_SONGS);
    const refused = results.filter((r) => !r.data?.createSong);
    expect(refused.map(errorCode)).toEqual(Array.from({ length: 5 }, () => 'CONFLICT'));
    expect(refused[0]!.errors![0]!.message).toMatch(/at most|holds/);
    const count = await stack.db.query('select count(*)::int as n from catalog.songs where album_id = $1', [albumId]);
    expect(count.rows[0].n).toBe(MAX_ALBUM_SONGS);
  });

  it('a capped first is at most 100 wherever it slices a list', async () => {
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const songId = await createSong(stack, artist.token, { title: 'Campaigned', genre: 'Test' });
    const over = [
      [`query($id: ID!) { artist(id: $id) { albums(first: 101) { id } } }`, { id: artist.artistId }, artist.token],
      [`query($id: ID!) { song(id: $id) { campaigns(first: 101) { id } } }`, { id: songId }, artist.token],
      [`{ me { openOrders(first: 101) { id } } }`, {}, artist.token],
      [`{ me { portfolio { holdings(first: 101) { quantity } } } }`, {}, artist.token],
      [`{ apiKeys(first: 101) { id } }`, {}, admin],
    ] as const;
    for (const [query, variables, token] of over) expect(errorCode(await stack.gql(query, variables, { token })), query).toBe('BAD_USER_INPUT');
    await newAlbum('Second');
    await newAlbum('Third');
    const sliced = await stack.gql<{ artist: { albums: unknown[] } }>(`query($id: ID!) { artist(id: $id) { albums(first: 2) { id } } }`, {
      id: artist.artistId,
    });
    expect(sliced.data!.artist.albums).toHaveLength(2);
  });
});

describe('the response size ceiling', () => {
  it(`refuses an answer over MAX_RESPONSE_BYTES with a clear error and none of its data`, async () => {
    const albumId = await newAlbum('Wordy');
    for (let n = 1; n <= 60; n++) await createSong(stack, artist.token, { title: `A rather long track title, number ${n}`, genre: 'Spoken word', albumId });
    const res = await stack.gql<{ album: unknown }>(
      `query($id: ID!) { album(id: $id) { songs { id title genre status createdAt } } }`,
      { id: albumId },
      { token: artist.token },
    );
    expect(res.data ?? null).toBeNull();
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', limit: 'responseBytes', max: MAX_RESPONSE_BYTES });
    expect(res.errors![0]!.message).toMatch(/Response size limit exceeded/);
    const small = await stack.gql<{ album: { songs: unknown[] } }>(
      `query($id: ID!) { album(id: $id) { songs { id } } }`,
      { id: albumId },
      { token: artist.token },
    );
    expect(small.errors).toBeUndefined();
    expect(small.data!.album.songs).toHaveLength(60);
  });
});
