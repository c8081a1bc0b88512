// discovery's use cases on its own schema, with catalog's and rewards' events injected: no gateway.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { CampaignParticipantJoined } from '@vibestream/contracts/campaigns';
import { PlaylistSongAdded, SongPublished } from '@vibestream/contracts/catalog';
import { OfferingSharesBought } from '@vibestream/contracts/ownership';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { diverse } from '../src/domain/ranking.ts';
import { discoveryHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { DiscoveryService } from '../src/service.ts';
import * as store from '../src/store.ts';

let h: ContextHarness;
let service: DiscoveryService;

beforeAll(async () => {
  h = await openContext({ name: 'discovery', migrations });
  service = new DiscoveryService({ db: h.db, minPairListeners: 5 });
  h.consume(discoveryHandlers(h.db));
});

afterAll(async () => {
  await h?.close();
});

const principal = (userId: string = randomUUID()): Principal => ({ userId, roles: ['FAN'], sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 3600 });
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();

// Each helper then runs the neighbour table's pass, as the subgraph's background refresh does within
// DISCOVERY_NEIGHBOUR_REFRESH_MS: the assertions read what the rows say once it ran.
async function publish(title: string, genre: string, artistId: string = randomUUID()): Promise<string> {
  const songId = randomUUID();
  await h.inject(SongPublished, { songId, artistId, artistUserId: randomUUID(), title, genre, durationSeconds: 200, publishedAt: new Date().toISOString() });
  await service.refreshNeighbours();
  return songId;
}

async function listen(userId: string, songId: string, completedAt = daysAgo(60)): Promise<void> {
  await h.inject(ListenCompleted, { sessionId: randomUUID(), userId, songId, listenedSeconds: 180, completedAt });
  await service.refreshNeighbours();
}

/** `n` listeners who each completed every one of `songs`, in order. */
async function listeners(n: number, songs: readonly string[]): Promise<string[]> {
  const users = Array.from({ length: n }, () => randomUUID());
  for (const u of users) for (const s of songs) await listen(u, s);
  return users;
}

describe('item-item similarity', () => {
  it('uses a pair only once at least k distinct listeners made it, and never the song itself', async () => {
    const a = await publish('Kay One', 'ambient');
    const b = await publish('Kay Two', 'ambient');
    await listeners(4, [a, b]);
    // One listener completing both many times is still one listener.
    const repeat = randomUUID();
    await listen(repeat, a);
    await listen(repeat, a);
    expect(await service.similar(a, 10)).toEqual([]);
    await listen(repeat, b);
    expect(await service.similar(a, 10)).toEqual([b]);
    expect(await service.similar(b, 10)).toEqual([a]);
  });

  it('never returns a draft: a song exists for discovery only once catalog published it', async () => {
    const seed = await publish('Published Seed', 'folk');
    const draft = randomUUID();
    const users = await listeners(6, [seed, draft]);
    expect(await service.similar(seed, 10)).toEqual([]);
    expect(await service.similar(draft, 10)).toEqual([]);
    const fan = randomUUID();
    await listen(fan, seed);
    expect((await service.recommendedSongs(principal(fan), 20)).map((r) => r.songId)).not.toContain(draft);
    // Published later: now it is a song, and its pairs count.
    await h.inject(SongPublished, {
      songId: draft,
      artistId: randomUUID(),
      artistUserId: randomUUID(),
      title: 'Once A Draft',
      genre: 'folk',
      durationSeconds: 180,
      publishedAt: new Date().toISOString(),
    });
    await service.refreshNeighbours();
    expect(await service.similar(seed, 10)).toEqual([draft]);
    expect(users).toHaveLength(6);
  });
});

describe('the neighbour table', () => {
  const reader = () => h.db.reader();

  it('holds no pair under k listeners, however often it is recomputed', async () => {
    const p = await publish('Under K One', 'k-test');
    const q = await publish('Under K Two', 'k-test');
    await listeners(4, [p, q]);
    // Four listeners: the pair never marked either song, and a forced recomputation still writes nothing.
    expect(await store.dirtySongs(reader())).toEqual([]);
    await h.inject(SongPublished, {
      songId: p,
      artistId: randomUUID(),
      artistUserId: randomUUID(),
      title: 'Under K One',
      genre: 'k-test',
      durationSeconds: 200,
      publishedAt: new Date().toISOString(),
    });
    expect(await store.dirtySongs(reader())).toEqual([p]);
    expect(await service.refreshNeighbours()).toEqual([p]);
    expect(await store.neighbourRows(reader(), p)).toEqual([]);
    expect(await store.neighbourRows(reader(), q)).toEqual([]);
    // A fifth: now both songs hold the pair, with its count.
    await listeners(1, [p, q]);
    expect((await store.neighbourRows(reader(), p)).map((r) => [r.neighbourId, r.co, r.rank])).toEqual([[q, 5, 1]]);
    expect((await store.neighbourRows(reader(), q)).map((r) => [r.neighbourId, r.co, r.rank])).toEqual([[p, 5, 1]]);
  });

  it('recomputes, after a listen, only the rows of the songs whose usable pairs it changed', async () => {
    const [a, b, c, x, y] = [
      await publish('Inc A', 'inc'),
      await publish('Inc B', 'inc'),
      await publish('Inc C', 'inc'),
      await publish('Inc X', 'inc'),
      await publish('Inc Y', 'inc'),
    ];
    await listeners(5, [a, b]);
    await listeners(5, [x, y]);
    const before = await store.neighbourRows(reader(), x);
    expect(before.map((r) => r.neighbourId)).toEqual([y]);
    // One more listener of a, b and c: (a, b) reaches 6, (a, c) and (b, c) 1 (under k).
    const fan = randomUUID();
    for (const song of [a, b, c])
      await h.inject(ListenCompleted, { sessionId: randomUUID(), userId: fan, songId: song, listenedSeconds: 180, completedAt: daysAgo(60) });
    expect((await store.dirtySongs(reader())).sort()).toEqual([a, b].sort());
    expect((await service.refreshNeighbours()).sort()).toEqual([a, b].sort());
    expect((await store.neighbourRows(reader(), a)).map((r) => [r.neighbourId, r.co])).toEqual([[b, 6]]);
    expect(await store.neighbourRows(reader(), c)).toEqual([]);
    // The others' rows were not touched (not even rewritten): the next pass has nothing to do.
    expect(await store.neighbourRows(reader(), x)).toEqual(before);
    expect(await service.refreshNeighbours()).toEqual([]);
  });
});

describe('recommendedSongs', () => {
  it('recommends what listeners of the caller’s songs completed, with the reason, excluding songs completed in the last 30 days', async () => {
    const seed = await publish('Night Drive', 'synthwave');
    const next = await publish('Neon Morning', 'synthwave');
    const recent = await publish('Already Heard', 'synthwave');
    await listeners(5, [seed, next]);
    await listeners(5, [seed, recent]);
    const fan = randomUUID();
    await listen(fan, seed, daysAgo(1));
    await listen(fan, recent, daysAgo(2));
    const found = await service.recommendedSongs(principal(fan), 20);
    expect(found[0]).toEqual({ songId: next, reason: 'because you listened to Night Drive' });
    expect(found.map((r) => r.songId)).not.toContain(recent);
    expect(found.map((r) => r.songId)).not.toContain(seed);
  });

  it('holds the artist-diversity rule on every window of 10', async () => {
    const prolific = randomUUID();
    const seed = await publish('Diversity Seed', 'house');
    const same = [];
    for (let i = 0; i < 8; i++) same.push(await publish(`Prolific ${i}`, 'house', prolific));
    const others = [];
    for (let i = 0; i < 8; i++) others.push(await publish(`Other ${i}`, 'house'));
    await listeners(5, [seed, ...same, ...others]);
    const fan = randomUUID();
    await listen(fan, seed);
    const found = await service.recommendedSongs(principal(fan), 20);
    expect(found.length).toBeGreaterThanOrEqual(10);
    const artistOf = new Map([...same.map((s) => [s, prolific] as const), ...others.map((s, i) => [s, `other-${i}`] as const)]);
    expect(diverse(found.map((r) => ({ artistId: artistOf.get(r.songId) ?? r.songId })))).toBe(true);
  });

  it('gives a new listener popular songs of their genres, else trending', async () => {
    const genre = `cold-${randomUUID().slice(0, 8)}`;
    const hit = await publish('Genre Hit', genre);
    const heard = await publish('Genre Heard', genre);
    await listeners(3, [hit]);
    const fan = randomUUID();
    await listen(fan, heard, daysAgo(1));
    const found = await service.recommendedSongs(principal(fan), 5);
    expect(found[0]).toEqual({ songId: hit, reason: `popular in ${genre}` });

    const stranger = await service.recommendedSongs(principal(), 5);
    expect(stranger).toHaveLength(5);
    expect(stranger.every((r) => r.reason === 'trending now')).toBe(true);
  });

  it('asks for a caller', async () => {
    await expect(service.recommendedSongs(null, 5)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});

describe('artistRadio', () => {
  it('never repeats a song within a session, and a session is its caller’s', async () => {
    const artistId = randomUUID();
    const own = [];
    for (let i = 0; i < 6; i++) own.push(await publish(`Radio ${i}`, 'radio-rock', artistId));
    const related = [];
    for (let i = 0; i < 4; i++) related.push(await publish(`Related ${i}`, 'radio-rock'));
    await listeners(5, [...own.slice(0, 2), ...related]);
    const me = principal();
    const served: string[] = [];
    let session: string | null = null;
    for (let page = 0; page < 6; page++) {
      const result = await service.artistRadio(me, artistId, 4, session);
      session = result.sessionId;
      served.push(...result.songIds);
    }
    expect(new Set(served).size).toBe(served.length);
    expect(served).toEqual(expect.arrayContaining([...own, ...related]));
    await expect(service.artistRadio(principal(), artistId, 4, session)).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('signals beyond completed listens: share purchases, campaign joins, playlist adds', () => {
  const reader = () => h.db.reader();
  /** A user's interaction of each kind with a song, each event delivered three times (a redelivery, then fresh ids). */
  const signals = {
    'a share purchase': (userId: string, songId: string) =>
      h.inject(OfferingSharesBought, { offeringId: randomUUID(), songId, userId, quantity: 3, costCents: 300 }, { times: 3 }),
    'a campaign join': (userId: string, songId: string) =>
      h.inject(CampaignParticipantJoined, { campaignId: randomUUID(), songId, userId, joinedAt: daysAgo(1) }, { times: 3 }),
    'a playlist add': (userId: string, songId: string) =>
      h.inject(PlaylistSongAdded, { playlistId: randomUUID(), songId, userId, addedAt: daysAgo(1) }, { times: 3 }),
  };

  it.each(Object.keys(signals) as (keyof typeof signals)[])(
    '%s counts its user once toward a pair, which is used only once k distinct users made it',
    async (kind) => {
      const a = await publish(`Listened (${kind})`, 'signals');
      const b = await publish(`Signalled (${kind})`, 'signals');
      const make = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const user = randomUUID();
          await listen(user, a);
          await signals[kind](user, b);
          await service.refreshNeighbours();
        }
      };
      await make(4);
      // Four users, each event delivered three times: still four, under k.
      expect(await service.similar(a, 10)).toEqual([]);
      expect(await store.neighbourRows(reader(), b)).toEqual([]);
      expect((await store.publishedSong(reader(), b))?.score).toBe(4);
      await make(1);
      expect(await service.similar(a, 10)).toEqual([b]);
      expect((await store.neighbourRows(reader(), a)).map((r) => [r.neighbourId, r.co])).toEqual([[b, 5]]);
      expect((await store.neighbourRows(reader(), b)).map((r) => [r.neighbourId, r.co])).toEqual([[a, 5]]);
    },
  );

  it('a user who listened to, bought, playlisted and joined a campaign of one song is one user of it', async () => {
    const a = await publish('Every Way One', 'signals-all');
    const b = await publish('Every Way Two', 'signals-all');
    for (let i = 0; i < 4; i++) {
      const user = randomUUID();
      for (const song of [a, b]) {
        await listen(user, song);
        for (const signal of Object.values(signals)) await signal(user, song);
      }
    }
    await service.refreshNeighbours();
    expect((await store.publishedSong(reader(), a))?.score).toBe(4);
    expect(await service.similar(a, 10)).toEqual([]);
    expect(await service.similar(b, 10)).toEqual([]);
  });

  it('never returns a draft bought, playlisted or joined by many', async () => {
    const seed = await publish('Signal Seed', 'signals-draft');
    const draft = randomUUID();
    for (let i = 0; i < 6; i++) {
      const user = randomUUID();
      await listen(user, seed);
      for (const signal of Object.values(signals)) await signal(user, draft);
    }
    await service.refreshNeighbours();
    expect(await service.similar(seed, 10)).toEqual([]);
    expect(await service.similar(draft, 10)).toEqual([]);
  });
});
