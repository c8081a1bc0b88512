// The gateway's entity cache through the gateway, on the Redis path with two gateway replicas:
// answers are served from it, a private answer never reaches another principal, a change is
// visible in the read that follows its mutation's answer, entries expire at their max age without
// any event, and a Redis restart costs the cache, not correctness. Its own redis-server, so the
// test can restart it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, createRedis } from '@vibestream/platform';
import { errorCode, eventually, freePort, graphqlClient, startTestStack, type GraphQLRequest, type TestStack } from '@vibestream/testkit';
import { startGateway, type RunningGateway } from '@vibestream/gateway';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { createSong, makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';
import { ownershipSubgraph } from '@vibestream/ownership';
import { OFFER, PLACE, deposit } from '@vibestream/ownership/testing';

const SONG = `query Song($id: ID!) { song(id: $id) { id title status artist { id name } } }`;
const SONG_DETAILS = `query SongDetails($id: ID!) { song(id: $id) { id title market { lastTradePriceCents volume24h offering { id sharesRemaining } } } }`;
const ACCOUNT = `query Account { me { id tradingAccount { cashCents reservedCents } openOrders { id side quantity limitPriceCents } } }`;
const ARTIST_USER = `query ArtistUser($id: ID!) { artist(id: $id) { id name user { id displayName email } } }`;

let redisPort = 0;
let redis: ChildProcess | null = null;
let redisDir = '';
let mediaDir = '';
let stack: TestStack;
let second: RunningGateway;
let gql2: GraphQLRequest;

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
    stdio: 'ignore',
  });
  const client = createRedis(`redis://127.0.0.1:${redisPort}`, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  await eventually(
    () => client.ping().catch(() => 'down'),
    (answer) => answer === 'PONG',
  );
  client.disconnect();
}

async function stopRedis(): Promise<void> {
  const running = redis;
  if (!running || running.exitCode !== null) return;
  const exited = new Promise((resolve) => running.once('exit', resolve));
  running.kill('SIGKILL');
  await exited;
}

/** The gateway's entity cache counters (from its /metrics), by result. */
async function cacheCounts(publicUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${publicUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^vibestream_gateway_entity_cache_total\{[^}]*result="([a-z_]+)"[^}]*\} (\d+(?:\.\d+)?)/gm)) {
    counts[match[1]!] = (counts[match[1]!] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** Runs `read` and answers how many entity cache hits it made on the gateway at `publicUrl`. */
async function hitsOf(publicUrl: string, read: () => Promise<unknown>): Promise<number> {
  const before = await cacheCounts(publicUrl);
  await read();
  const after = await cacheCounts(publicUrl);
  return (after.hit_memory ?? 0) + (after.hit_shared ?? 0) - (before.hit_memory ?? 0) - (before.hit_shared ?? 0);
}

beforeAll(async () => {
  redisPort = await freePort();
  redisDir = await mkdtemp(join(tmpdir(), 'vs-redis-'));
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-cache-'));
  await startRedis();
  stack = await startTestStack('entitycache', [identitySubgraph, catalogSubgraph, ownershipSubgraph], {
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    MEDIA_DIR: mediaDir,
  });
  // A second replica on the same supergraph and Redis, as a deployment runs them.
  const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph, ownershipSubgraph], (m) => stack.subgraphs.get(m.name)!.url);
  second = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: supergraph, port: 0 });
  gql2 = graphqlClient(`http://127.0.0.1:${second.port}/graphql`);
}, 180_000);

afterAll(async () => {
  await second?.stop();
  await stack?.stop();
  await stopRedis();
  await rm(redisDir, { recursive: true, force: true });
  await rm(mediaDir, { recursive: true, force: true });
});

describe('the entity cache', () => {
  it('serves a public entity from memory, then from the shared entries on another replica', async () => {
    const artist = await newArtist(stack, 'Cached Artist');
    const songId = await publishedSong(stack, artist.token, { title: 'Cached Song', genre: 'Pop' }, makeWav(1, 4000));
    const fan = await signUp(stack);
    const first = await stack.gql(SONG, { id: songId }, { token: fan.token });
    expect(first.data).toEqual({ song: { id: songId, title: 'Cached Song', status: 'PUBLISHED', artist: { id: artist.artistId, name: 'Cached Artist' } } });

    // Another principal, anonymous even: a PUBLIC answer is everyone's. (The song's publication is still
    // being projected by other contexts, each purging it when done: a read may miss until they are.)
    await eventually(
      async () => {
        const before = await cacheCounts(stack.publicUrl);
        expect((await stack.gql(SONG, { id: songId })).data).toEqual(first.data);
        return (await cacheCounts(stack.publicUrl)).hit_memory! - (before.hit_memory ?? 0);
      },
      (hits) => hits >= 1,
    );

    // The other replica finds it among the shared entries (written in the background, so once they are there).
    await eventually(
      async () => {
        const before = await cacheCounts(`http://127.0.0.1:${second.port}`);
        expect((await gql2(SONG, { id: songId }, { token: fan.token })).data).toEqual(first.data);
        return ((await cacheCounts(`http://127.0.0.1:${second.port}`)).hit_shared ?? 0) - (before.hit_shared ?? 0);
      },
      (hits) => hits >= 1,
    );
  });

  it("never serves a private answer to another principal: a draft, a user's own email, interleaved", async () => {
    const artist = await newArtist(stack, 'Private Artist');
    const draftId = await createSong(stack, artist.token, { title: 'Secret Draft', genre: 'Pop' });
    const fan = await signUp(stack, 'FAN', 'Nosy Fan');
    // The draft is cached for its artist (PRIVATE)...
    await stack.gql(SONG, { id: draftId }, { token: artist.token });
    expect(await hitsOf(stack.publicUrl, () => stack.gql(SONG, { id: draftId }, { token: artist.token }))).toBeGreaterThanOrEqual(1);
    // ...and never for anyone else, in any order.
    for (let round = 0; round < 3; round++) {
      for (const gql of [stack.gql, gql2]) {
        const own = await gql<{ song: { title: string; status: string } }>(SONG, { id: draftId }, { token: artist.token });
        expect(own.data?.song).toMatchObject({ title: 'Secret Draft', status: 'DRAFT' });
        const other = await gql(SONG, { id: draftId }, { token: fan.token });
        expect(errorCode(other)).toBe('NOT_FOUND');
        const anonymous = await gql(SONG, { id: draftId });
        expect(errorCode(anonymous)).toBe('NOT_FOUND');

        const mine = await gql<{ artist: { user: { email: string | null } } }>(ARTIST_USER, { id: artist.artistId }, { token: artist.token });
        expect(mine.errors).toBeUndefined();
        expect(mine.data?.artist.user.email).toMatch(/@example\.com$/);
        const theirs = await gql<{ artist: { user: { email: string | null } } | null }>(ARTIST_USER, { id: artist.artistId }, { token: fan.token });
        expect(errorCode(theirs)).toBe('FORBIDDEN');
        expect(theirs.data?.artist?.user.email ?? null).toBeNull();
      }
    }
    // Two users' own accounts, read alternately through both replicas: each sees only their own.
    const [a, b] = [await signUp(stack), await signUp(stack)];
    await deposit(stack, stack.db, a.userId, 1_111);
    await deposit(stack, stack.db, b.userId, 2_222);
    for (let round = 0; round < 3; round++) {
      for (const gql of [stack.gql, gql2]) {
        const mine = await gql<{ me: { id: string; tradingAccount: { cashCents: number } } }>(ACCOUNT, {}, { token: a.token });
        const theirs = await gql<{ me: { id: string; tradingAccount: { cashCents: number } } }>(ACCOUNT, {}, { token: b.token });
        expect(mine.data?.me).toMatchObject({ id: a.userId, tradingAccount: { cashCents: 1_111 } });
        expect(theirs.data?.me).toMatchObject({ id: b.userId, tradingAccount: { cashCents: 2_222 } });
      }
    }
  });

  it("shows a mutation's change in the next read: the song's offering and market, the caller's account and orders", async () => {
    const artist = await newArtist(stack, 'Market Artist');
    const songId = await publishedSong(stack, artist.token, { title: 'Market Song', genre: 'Pop' }, makeWav(1, 4000));
    await eventually(
      async () => (await stack.db.query('select 1 from ownership.songs where song_id = $1', [songId])).rowCount,
      (n) => n === 1,
    );
    const [seller, buyer] = [await signUp(stack), await signUp(stack)];
    await deposit(stack, stack.db, seller.userId, 100_000);
    await deposit(stack, stack.db, buyer.userId, 100_000);

    // Read (and cache) the song's market before it has an offering.
    const empty = await stack.gql<{ song: { market: { offering: unknown } } }>(SONG_DETAILS, { id: songId }, { token: buyer.token });
    expect(empty.data?.song.market.offering).toBeNull();
    await eventually(
      () => hitsOf(stack.publicUrl, async () => expect((await stack.gql(SONG_DETAILS, { id: songId }, { token: buyer.token })).data).toEqual(empty.data)),
      (hits) => hits >= 2,
    );

    const offer = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 100, pricePerShareCents: 100, revenueShareBps: 1000 } },
      { token: artist.token },
    );
    expect(offer.errors).toBeUndefined();
    const offered = await stack.gql<{ song: { market: { offering: { sharesRemaining: number } } } }>(SONG_DETAILS, { id: songId }, { token: buyer.token });
    expect(offered.data?.song.market.offering).toMatchObject({ id: offer.data!.createShareOffering.id, sharesRemaining: 100 });

    const bought = await stack.gql(
      `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity } }`,
      { offeringId: offer.data!.createShareOffering.id, quantity: 10 },
      { token: seller.token },
    );
    expect(bought.errors).toBeUndefined();
    expect(
      (await stack.gql<{ song: { market: { offering: { sharesRemaining: number } } } }>(SONG_DETAILS, { id: songId })).data?.song.market.offering
        .sharesRemaining,
    ).toBe(90);

    // The buyer's account, cached, then a resting order: the next read shows it.
    const idle = await stack.gql<{ me: { tradingAccount: { reservedCents: number }; openOrders: unknown[] } }>(ACCOUNT, {}, { token: buyer.token });
    expect(idle.data?.me.openOrders).toEqual([]);
    expect(await hitsOf(stack.publicUrl, () => stack.gql(ACCOUNT, {}, { token: buyer.token }))).toBeGreaterThanOrEqual(1);
    const resting = await stack.gql<{ placeOrder: { order: { id: string } } }>(
      PLACE,
      { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 2, limitPriceCents: 150 } },
      { token: buyer.token },
    );
    expect(resting.errors).toBeUndefined();
    const reserved = await stack.gql<{ me: { tradingAccount: { reservedCents: number }; openOrders: { id: string }[] } }>(ACCOUNT, {}, { token: buyer.token });
    expect(reserved.data?.me.openOrders.map((o) => o.id)).toEqual([resting.data!.placeOrder.order.id]);
    expect(reserved.data?.me.tradingAccount.reservedCents).toBeGreaterThan(0);

    // A trade: the very next read of the market (and the seller's account) shows it, on this replica...
    const sold = await stack.gql(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 2, limitPriceCents: 150 } }, { token: seller.token });
    expect(sold.errors).toBeUndefined();
    const traded = await stack.gql<{ song: { market: { lastTradePriceCents: number; volume24h: number } } }>(
      SONG_DETAILS,
      { id: songId },
      { token: buyer.token },
    );
    expect(traded.data?.song.market).toMatchObject({ lastTradePriceCents: 150, volume24h: 2 });
    const buyerAfter = await stack.gql<{ me: { openOrders: unknown[] } }>(ACCOUNT, {}, { token: buyer.token });
    expect(buyerAfter.data?.me.openOrders).toEqual([]);
    // ...and on the other replica once its broadcast arrives (its shared entries were purged before the answer).
    await eventually(
      async () => (await gql2<{ song: { market: { lastTradePriceCents: number } } }>(SONG_DETAILS, { id: songId })).data?.song.market.lastTradePriceCents,
      (price) => price === 150,
      5_000,
    );
  });

  it('keeps answering correctly while Redis is down and after it restarts empty', async () => {
    const artist = await newArtist(stack, 'Restart Artist');
    const songId = await publishedSong(stack, artist.token, { title: 'Before Restart', genre: 'Pop' }, makeWav(1, 4000));
    const fan = await signUp(stack);
    await eventually(
      async () => (await stack.db.query('select 1 from ownership.songs where song_id = $1', [songId])).rowCount,
      (n) => n === 1,
    );
    await deposit(stack, stack.db, fan.userId, 5_000);
    expect((await stack.gql<{ song: { title: string } }>(SONG, { id: songId }, { token: fan.token })).data?.song.title).toBe('Before Restart');
    expect((await gql2<{ song: { title: string } }>(SONG, { id: songId }, { token: fan.token })).data?.song.title).toBe('Before Restart');

    await stopRedis();
    // Down: reads still answer, from memory or the subgraphs, without errors.
    for (const gql of [stack.gql, gql2]) {
      const read = await gql<{ song: { title: string } }>(SONG, { id: songId }, { token: fan.token });
      expect(read.errors).toBeUndefined();
      expect(read.data?.song.title).toBe('Before Restart');
    }
    await startRedis();

    // After the restart the shared entries are gone; a change is still seen at once where it was made.
    const before = await stack.gql<{ me: { openOrders: unknown[] } }>(ACCOUNT, {}, { token: fan.token });
    expect(before.data?.me.openOrders).toEqual([]);
    const placed = await stack.gql<{ placeOrder: { order: { id: string } } }>(
      PLACE,
      { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: 10 } },
      { token: fan.token },
    );
    expect(placed.errors).toBeUndefined();
    const after = await stack.gql<{ me: { openOrders: { id: string }[] } }>(ACCOUNT, {}, { token: fan.token });
    expect(after.data?.me.openOrders.map((o) => o.id)).toEqual([placed.data!.placeOrder.order.id]);
    // Events flow again after the restart (the consumers recreate their groups): a deposit is credited.
    await deposit(stack, stack.db, fan.userId, 1_000);
    const credited = await stack.gql<{ me: { tradingAccount: { cashCents: number } } }>(ACCOUNT, {}, { token: fan.token });
    expect(credited.data?.me.tradingAccount.cashCents).toBe(6_000 - 10 - Math.ceil(10 * 0));
  });

  it("expires an entry at its max age when nothing purges it (a change behind the subgraph's back)", async () => {
    // A replica of its own (own prefix, entries kept at most 1 s) so no other replica's entries answer for it.
    const brief = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', REDIS_PREFIX: `${stack.env.REDIS_PREFIX}brief:`, ENTITY_CACHE_MAX_TTL_SECONDS: '1' },
      supergraphSdl: composeSupergraph([identitySubgraph, catalogSubgraph, ownershipSubgraph], (m) => stack.subgraphs.get(m.name)!.url).supergraph,
      port: 0,
    });
    try {
      const gql = graphqlClient(`http://127.0.0.1:${brief.port}/graphql`);
      const artist = await newArtist(stack, 'Brief Artist');
      const songId = await publishedSong(stack, artist.token, { title: 'Old Title', genre: 'Pop' }, makeWav(1, 4000));
      const title = async () => (await gql<{ song: { title: string } }>(SONG, { id: songId })).data?.song.title;
      let storedAt = 0;
      await eventually(
        async () => {
          storedAt = Date.now();
          await title();
          return hitsOf(`http://127.0.0.1:${brief.port}`, title);
        },
        (hits) => hits >= 1,
      );
      await stack.db.query(`update catalog.songs set title = 'New Title' where id = $1`, [songId]);
      const soon = await title();
      if (Date.now() - storedAt < 900) expect(soon).toBe('Old Title');
      await eventually(title, (t) => t === 'New Title', 5_000);
    } finally {
      await brief.stop();
    }
  });
});
