import { mkdtemp, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '../src/index.ts';
import { makeWav } from './audio.ts';
import { grantPlan, newArtist, publishedSong } from './helpers.ts';

const SEARCH = `query SearchSongs($query: String!, $first: Int, $after: String) {
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
    'catalogsearch',
    [identitySubgraph, catalogSubgraph],
    // The relay polls only when kicked, so the statement count sees only the request's own SQL.
    { MEDIA_DIR: mediaDir, OUTBOX_RELAY_INTERVAL_MS: '600000' },
    { onQuery: { catalog: () => void statements++ } },
  );
  db = stack.db;
});
afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

describe('search', () => {
  it('ranks a title match over an artist-name match over a genre match', async () => {
    const artist = await newArtist(stack, 'Velvet Horizon');
    await grantPlan(stack, db, artist.userId, 'STUDIO', 1000);
    const audio = makeWav(1);
    const byTitle = await publishedSong(stack, artist.token, { title: 'Horizon Lines', genre: 'Pop' }, audio);
    const other = await newArtist(stack, 'Solar Flare');
    await grantPlan(stack, db, other.userId, 'STUDIO', 1000);
    const byGenre = await publishedSong(stack, other.token, { title: 'Untitled', genre: 'Horizon Dub' }, audio);
    const byArtistName = await publishedSong(stack, artist.token, { title: 'Something Else', genre: 'Pop' }, audio);
    const res = await stack.gql<SearchPage>(SEARCH, { query: 'horizon', first: 10 });
    const ids = res.data!.searchSongs.edges.map((e) => e.node.id);
    expect(ids.indexOf(byTitle)).toBe(0);
    expect(ids.indexOf(byArtistName)).toBeGreaterThan(0);
    expect(ids.indexOf(byGenre)).toBeGreaterThan(ids.indexOf(byArtistName));
  });

  it('refuses an empty query and a page size over 100', async () => {
    expect(errorCode(await stack.gql(SEARCH, { query: '   ' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(SEARCH, { query: 'x', first: 101 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(SEARCH, { query: 'x', after: 'garbage' }))).toBe('BAD_USER_INPUT');
  });

  it('returns every published song exactly once across pages while new songs are being added', async () => {
    const artist = await newArtist(stack, 'Drizzle Collective');
    await grantPlan(stack, db, artist.userId, 'STUDIO', 1000);
    const audio = makeWav(1);
    const initial: string[] = [];
    for (let i = 0; i < 18; i++) initial.push(await publishedSong(stack, artist.token, { title: `Rainfall ${i}`, genre: 'Ambient' }, audio));

    const seen: string[] = [];
    let after: string | null = null;
    let added = 0;
    for (let page = 0; page < 50; page++) {
      const res: { data?: SearchPage | null } = await stack.gql<SearchPage>(SEARCH, { query: 'rainfall', first: 5, after });
      seen.push(...res.data!.searchSongs.edges.map((e) => e.node.id));
      // Meanwhile, more matching songs appear.
      await publishedSong(stack, artist.token, { title: `Rainfall late ${added++}`, genre: 'Ambient' }, audio);
      if (!res.data!.searchSongs.pageInfo.hasNextPage) break;
      after = res.data!.searchSongs.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of initial) expect(seen.filter((s) => s === id)).toHaveLength(1);
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
    const count = async (first: number) => {
      statements = 0;
      const res = await stack.gql<SearchPage>(SEARCH, { query: 'zebrafish', first });
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
