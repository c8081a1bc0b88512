/**
 * Gateway benchmark, operations mode (`npm run bench:gateway`, the default of run.ts): the web
 * client's operations `Song`, `SongDetails`, `MyArtistSongs` and `Portfolio` (their texts are the
 * generated documents of clients/operations, the same as /work/shared/contract) against the whole
 * graph, side by side in one run:
 *   on     our gateway (startGateway) with the entity cache on   (GATEWAY_ENTITY_CACHE=on)
 *   off    our gateway with the entity cache off                  (GATEWAY_ENTITY_CACHE=off)
 *   stock  ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) }) forwarding the token
 * Every subgraph of subgraphs/index.ts and each gateway run in their own child process
 * (server.ts) on one database and one Redis prefix; autocannon runs in this process.
 *
 * Data, made through the API before the on and stock gateways start (off serves the setup):
 * A = max(2, largest --users) users, each an ARTIST with an artist profile, one album and a STUDIO
 * plan (a billing.entitlements.changed.v1 event); --songs published songs (a tiny generated WAV
 * each, uploaded through the signed URL), dealt out to the artists in turn, every other one on the
 * artist's album, each with a share offering; a deposit of $10,000 per user
 * (payments.deposit.succeeded.v1 on the bus, as payments announces one); each user buys shares
 * from 6 offerings of other artists; on each of the H = 10 "hot" songs (the first 10) one user
 * sells 2 shares to another on the book (a real trade: last price and 24 h volume); each user
 * keeps two resting orders (SELL 1 @ $90 of a song they hold, BUY 2 @ 40¢ of a hot song).
 *
 * Requests: a run of (operation, users U, mode) on one target takes users u0..u(U-1) in turn,
 * request by request (autocannon setupRequest), and for Song and SongDetails the hot songs in turn
 * as well (request k: user k mod U, song floor(k / U) mod H).
 *   Song, SongDetails   song(id: <hot song>) with the user's token
 *   MyArtistSongs       me { artistProfile { songs(first: 50) { ... market { offering } } } }
 *   Portfolio           me { tradingAccount portfolio { holdings { song { artist } } } openOrders }
 *
 * Modes:
 *   read  reads only.
 *   mix   each connection repeats a cycle of 20 requests: a write, 9 reads, a write, 9 reads
 *         (10% writes). The first write places a resting order, BUY 1 share @ 1¢ (LIMIT; no ask is
 *         that low, so it never trades) as the next user in turn: on the song of that request
 *         (Song, SongDetails), on one of the user's own songs (MyArtistSongs), on a hot song
 *         (Portfolio); the second write cancels it. Each write changes the user's trading account
 *         and open orders and the song's book (what a cache must purge), and together they leave
 *         the state as it was. The read right after each write is by the same user (and song).
 *
 * What is checked:
 *   - before any load, every target's answer for every (operation, user[, hot song]) is recorded:
 *     no errors, and the data must be deep-equal across targets (and, for Song and SongDetails,
 *     across users); the data must be non-trivial (holdings and 2 open orders in every portfolio,
 *     an artist profile with songs, a last trade price on every hot song);
 *   - during the load (warm-up included), every answer to a read must be what that request's user
 *     must see: byte-equal to the answer the same target gave for that user (or song) before the
 *     load, except that a `streamUrl` may carry another expiry: its signature must check with the
 *     run's media secret and it must not have expired. In mix, Portfolio reads may also show
 *     resting 1¢ orders of the benchmark's writes: then the recorded open orders must come first,
 *     unchanged, every further order must be BUY 1 @ 1¢ unfilled (at most one per connection), the
 *     portfolio must be unchanged, and reserved cash must be the recorded one plus j times what one
 *     such order reserves, cash the recorded one minus as much (0 <= j <= connections). j may differ
 *     from the number of 1¢ orders listed: the trading account and the open orders are resolved
 *     apart, not in one snapshot, so a write can land between them (counted as "torn", allowed).
 *     Other operations' answers are unchanged by the writes, so they must equal the recorded ones;
 *   - freshness (counted as "stale"): in mix, the Portfolio read right after a connection placed
 *     its order must list that order and reserve cash for at least one 1¢ order; the one right
 *     after it cancelled the order must not list it. (A read that joins an identical subgraph
 *     fetch already in flight, which our gateway merges, can miss a write that completed after
 *     that fetch started: with 1 user every connection sends the same query. That is stale too.)
 *   - every placeOrder must answer OPEN with no trades, every cancelOrder CANCELLED for that order;
 *   - any non-2xx, error, timeout, wrong or stale answer fails the run (exit 1) whatever the numbers.
 * After each mix run (and warm-up) the 1¢ orders the load left resting are looked up in ownership's
 * table and cancelled through the same target, so every run starts from the recorded state.
 *
 * Per (operation, users, mode) the targets are measured in turn, rounds interleaved (a warm-up per
 * target before its first round, which also fills the cache), medians over rounds. Printed: req/s
 * (reads and writes), the ratio to stock, p50 / p99, and CPU time per request of the gateway
 * process, of the subgraph processes together, and of the rest of the machine (PostgreSQL,
 * Redis, anything else; other targets' and this process's CPU excluded); a second table gives
 * each subgraph process's CPU per request and this process's (autocannon).
 *
 * Options (flag or environment variable):
 *   --ops=LIST          BENCH_OPS          Song,SongDetails,MyArtistSongs,Portfolio (all four); `me` runs me.ts instead
 *   --users=LIST        BENCH_USERS        user counts to run (1,10)
 *   --modes=LIST        BENCH_MODES        read and/or mix (read,mix); --mix alone means --modes=mix
 *   --targets=LIST      BENCH_TARGETS      on,off,stock (the default), and/or off0: ours, cache off and merging of
 *                                          identical in-flight subgraph fetches off (a control, as b0 in me.ts)
 *   --duration=S        BENCH_DURATION     seconds measured per target and round (10)
 *   --warmup=S          BENCH_WARMUP       warm-up per target before its first round (3)
 *   --rounds=N          BENCH_ROUNDS       rounds, interleaved; medians reported (3)
 *   --connections=N     BENCH_CONNECTIONS  (10)
 *   --songs=N           BENCH_SONGS        published songs (200)
 *   --cpu-prof=ROLES    BENCH_CPU_PROF     run gateway-cache-on, gateway-cache-off, stock and/or subgraphs (by name)
 *                                          under `node --cpu-prof` (profiles in bench/gateway/profiles)
 *   --json=FILE         BENCH_JSON         also write every measurement as JSON
 *   --check             BENCH_CHECK=1      exit 1 when on/stock < 2 for an operation at the most users, mix
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import autocannon, { type Options as LoadOptions, type Request as LoadRequest, type Result } from 'autocannon';
import { print } from 'graphql';
import pg from 'pg';
import { composeSupergraph, createInfra, createLogger } from '@vibestream/platform';
import { freePort, publishEvent } from '@vibestream/testkit';
import { DepositSucceeded, EntitlementsChanged } from '@vibestream/payments/events';
import { makeWav } from '@vibestream/catalog/testing';
import { signMedia } from '@vibestream/catalog/domain/signed-url.ts';
import { subgraphs } from '../../subgraphs/index.ts';
import {
  CancelOrderDocument,
  MyArtistSongsDocument,
  PlaceOrderDocument,
  PortfolioDocument,
  SongDetailsDocument,
  SongDocument,
} from '../../clients/generated/graphql.ts';
import { startChild, type ChildServer } from '../lib/children.ts';
import { fmt, median, medianOrNull, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import { SUBGRAPH_ROLES, type Role, type SubgraphRole } from './server.ts';

const here = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    ops: { type: 'string' },
    users: { type: 'string' },
    modes: { type: 'string' },
    mix: { type: 'boolean' },
    targets: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    songs: { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

const OPS = ['Song', 'SongDetails', 'MyArtistSongs', 'Portfolio'] as const;
type Op = (typeof OPS)[number];
type Mode = 'read' | 'mix';
type TargetKey = 'on' | 'off' | 'off0' | 'stock';
const TARGETS: { key: TargetKey; role: Role; label: string }[] = [
  { key: 'on', role: 'gateway-cache-on', label: 'ours, cache on' },
  { key: 'off', role: 'gateway-cache-off', label: 'ours, cache off' },
  { key: 'off0', role: 'gateway-nomerge', label: 'ours, cache and merging off' },
  { key: 'stock', role: 'stock', label: 'stock Apollo' },
];

const list = (flag: string | undefined, envName: string, fallback: string) =>
  (flag ?? process.env[envName] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const options = {
  ops: list(flags.ops, 'BENCH_OPS', OPS.join(',')) as Op[],
  users: list(flags.users, 'BENCH_USERS', '1,10').map(Number),
  modes: (flags.mix ? ['mix'] : list(flags.modes, 'BENCH_MODES', 'read,mix')) as Mode[],
  targets: list(flags.targets, 'BENCH_TARGETS', 'on,off,stock') as TargetKey[],
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 10, 1),
  warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 3, 0),
  rounds: Math.round(numberOption(flags.rounds, 'rounds', 'BENCH_ROUNDS', 3, 1)),
  connections: Math.round(numberOption(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10, 1)),
  songs: Math.round(numberOption(flags.songs, 'songs', 'BENCH_SONGS', 200, 10)),
  cpuProf: new Set(list(flags['cpu-prof'], 'BENCH_CPU_PROF', '')),
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};
for (const op of options.ops) if (!OPS.includes(op)) throw new Error(`unknown operation ${op} (${OPS.join(', ')}, or me alone)`);
for (const m of options.modes) if (m !== 'read' && m !== 'mix') throw new Error(`unknown mode ${m} (read, mix)`);
for (const t of options.targets) if (!TARGETS.some((x) => x.key === t)) throw new Error(`unknown target ${t} (on, off, off0, stock)`);
for (const u of options.users) if (!Number.isInteger(u) || u < 1 || u > 50) throw new Error('--users takes whole numbers from 1 to 50');

/** Songs read by Song and SongDetails, in turn; each has a trade. */
const HOT = 10;
/** Every user's deposit, in cents. */
const DEPOSIT_CENTS = 1_000_000;
/** The benchmark's writes: BUY 1 share at this price, LIMIT; the lowest ask is far above. */
const TRANSIENT_PRICE = 1;
/** Seeded resting orders of each user. */
const RESTING_SELL_PRICE = 9000;
const RESTING_BUY_PRICE = 40;
const STREAM_URL_TTL_SECONDS = 3600;

const TEXT: Record<Op, string> = {
  Song: print(SongDocument),
  SongDetails: print(SongDetailsDocument),
  MyArtistSongs: print(MyArtistSongsDocument),
  Portfolio: print(PortfolioDocument),
};
const PER_SONG: Record<Op, boolean> = { Song: true, SongDetails: true, MyArtistSongs: false, Portfolio: false };
const PLACE = print(PlaceOrderDocument);
const CANCEL = print(CancelOrderDocument);

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 80)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs fn over items with at most n in flight. */
async function inParallel<T>(items: T[], n: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

function startServer(role: Role, env: NodeJS.ProcessEnv, supergraphSdl?: string, port?: number): Promise<ChildServer<Role>> {
  const execArgv = [...process.execArgv];
  if (options.cpuProf.has(role)) {
    const dir = join(here, 'profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`);
  }
  return startChild(join(here, 'server.ts'), { role, env, ...(supergraphSdl ? { supergraphSdl } : {}), ...(port ? { port } : {}) }, { execArgv });
}

// ---------------------------------------------------------------------------------------------
// Data

interface User {
  index: number;
  id: string;
  token: string;
  artistName: string;
  /** Their own songs. */
  songs: string[];
}

interface World {
  users: User[];
  songs: string[];
  hot: string[];
  /** Cash one transient order (BUY 1 @ 1¢) reserves: the price and the taker fee. */
  reserve: number;
}

const FIRST = ['Golden', 'Midnight', 'Electric', 'Silver', 'Velvet', 'Neon', 'Quiet', 'Paper', 'Crimson', 'Hollow', 'Wild', 'Northern'];
const SECOND = ['Horizon', 'River', 'Echoes', 'Lanterns', 'Harbor', 'Skyline', 'Static', 'Gardens', 'Signals', 'Tides', 'Avenue', 'Machines'];
const GENRES = ['Pop', 'Jazz', 'Hip-Hop', 'Synthwave', 'Folk', 'Ambient', 'Rock', 'Soul'];
const ARTISTS = [
  'Mara Quinn',
  'The Velvet Foxes',
  'Harbor Collective',
  'Ava Stone',
  'Neon Saints',
  'Low Tide',
  'June Parade',
  'Static Hearts',
  'Paper Moons',
  'Kite Season',
];

async function seed(url: string, env: NodeJS.ProcessEnv, db: pg.Client, userCount: number, songCount: number): Promise<World> {
  const origin = new URL(url).origin;
  const tag = randomBytes(3).toString('hex');
  const users: User[] = [];
  for (let i = 0; i < userCount; i++) {
    const { register } = await gql<{ register: { accessToken: string; user: { id: string } } }>(
      url,
      `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
      { input: { email: `bench-${tag}-${i}@example.com`, password: 'a-long-password', displayName: `Bench User ${i}`, role: 'ARTIST' } },
    );
    const artistName = `${ARTISTS[i % ARTISTS.length]}${i >= ARTISTS.length ? ` ${Math.floor(i / ARTISTS.length) + 1}` : ''}`;
    await gql(
      url,
      `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`,
      { input: { name: artistName } },
      register.accessToken,
    );
    users.push({ index: i, id: register.user.id, token: register.accessToken, artistName, songs: [] });
  }

  // Room for the uploads and cash to trade with, announced the way billing and payments do.
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log: createLogger('bench', 'silent') });
  try {
    for (const user of users) {
      await publishEvent({ infra }, EntitlementsChanged, {
        userId: user.id,
        planId: 'STUDIO',
        entitlements: [
          { key: 'uploads.monthly', limit: 100_000 },
          { key: 'storage.bytes', limit: null },
        ],
        changedAt: new Date().toISOString(),
      });
      await publishEvent({ infra }, DepositSucceeded, {
        depositId: randomUUID(),
        userId: user.id,
        amountCents: DEPOSIT_CENTS,
        method: 'CARD',
        succeededAt: new Date().toISOString(),
      });
    }
  } finally {
    await infra.close();
  }
  await until('the plans to reach catalog', async () => Number((await db.query('select count(*) from catalog.user_plans')).rows[0].count) >= userCount);

  const albums: string[] = [];
  for (const user of users) {
    const { createAlbum } = await gql<{ createAlbum: { id: string } }>(
      url,
      `mutation($input: CreateAlbumInput!) { createAlbum(input: $input) { id } }`,
      { input: { title: `${FIRST[user.index % FIRST.length]} Sessions` } },
      user.token,
    );
    albums.push(createAlbum.id);
  }

  const wav = makeWav(1, 4000);
  const songs: string[] = new Array<string>(songCount);
  await inParallel(
    Array.from({ length: songCount }, (_, j) => j),
    4,
    async (j) => {
      const artist = users[j % userCount]!;
      const title = `${FIRST[j % FIRST.length]} ${SECOND[Math.floor(j / FIRST.length) % SECOND.length]} ${j}`;
      const { createSong } = await gql<{ createSong: { id: string } }>(
        url,
        `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
        { input: { title, genre: GENRES[j % GENRES.length], ...(j % 2 === 0 ? { albumId: albums[artist.index] } : {}) } },
        artist.token,
      );
      const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
        url,
        `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl } }`,
        { songId: createSong.id, contentType: 'audio/wav', byteSize: wav.length },
        artist.token,
      );
      const uploaded = await fetch(new URL(ticket.requestSongUpload.uploadUrl, origin), {
        method: 'PUT',
        headers: { 'content-type': 'audio/wav' },
        body: new Uint8Array(wav),
      });
      if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
      await gql(url, `mutation($songId: ID!) { publishSong(songId: $songId) { status } }`, { songId: createSong.id }, artist.token);
      songs[j] = createSong.id;
    },
  );
  for (let j = 0; j < songCount; j++) users[j % userCount]!.songs.push(songs[j]!);
  await until('ownership to learn the songs', async () => Number((await db.query('select count(*) from ownership.songs')).rows[0].count) >= songCount);
  await until('ownership to credit the deposits', async () => Number((await db.query('select count(*) from ownership.deposits')).rows[0].count) >= userCount);

  const offerings: string[] = new Array<string>(songCount);
  const price = (j: number) => 100 + (j % 7) * 25;
  await inParallel(
    Array.from({ length: songCount }, (_, j) => j),
    4,
    async (j) => {
      const { createShareOffering } = await gql<{ createShareOffering: { id: string } }>(
        url,
        `mutation($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id } }`,
        { input: { songId: songs[j], totalShares: 1000, pricePerShareCents: price(j), revenueShareBps: 100 + (j % 20) * 50 } },
        users[j % userCount]!.token,
      );
      offerings[j] = createShareOffering.id;
    },
  );

  const buy = (user: User, j: number, quantity: number) =>
    gql(
      url,
      `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity } }`,
      { offeringId: offerings[j], quantity },
      user.token,
    );
  const place = (user: User, j: number, side: 'BUY' | 'SELL', quantity: number, limitPriceCents: number) =>
    gql<{ placeOrder: { order: { status: string }; trades: { id: string }[] } }>(
      url,
      PLACE,
      { input: { songId: songs[j], side, type: 'LIMIT', quantity, limitPriceCents } },
      user.token,
    );

  // Holdings: 6 offerings of other artists' songs per user.
  const held = new Map<number, number[]>();
  for (const user of users) {
    const mine: number[] = [];
    for (let k = 0, j = user.index + 1; mine.length < 6 && k < songCount; k++, j = (j + 7) % songCount) {
      if (j % userCount === user.index || mine.includes(j)) continue;
      await buy(user, j, 10 + mine.length);
      mine.push(j);
    }
    held.set(user.index, mine);
  }
  // A trade on every hot song: a holder sells 2 shares to another user on the book.
  const hot = songs.slice(0, HOT);
  for (let h = 0; h < HOT; h++) {
    const seller = users[(h + 1) % userCount]!;
    const buyer = users[(h + 2) % userCount]!;
    if (seller.index === h % userCount) throw new Error('a hot song seller is its artist');
    await buy(seller, h, 5);
    const sellPrice = price(h) + 15;
    const ask = await place(seller, h, 'SELL', 2, sellPrice);
    if (ask.placeOrder.order.status !== 'OPEN') throw new Error(`the seeded ask is ${ask.placeOrder.order.status}`);
    const bid = await place(buyer, h, 'BUY', 2, sellPrice);
    if (bid.placeOrder.trades.length === 0) throw new Error('the seeded bid did not trade');
  }
  // Resting orders: SELL 1 @ $90 of a held song, BUY 2 @ 40¢ of a hot song.
  for (const user of users) {
    const sell = await place(user, held.get(user.index)![0]!, 'SELL', 1, RESTING_SELL_PRICE);
    const bid = await place(user, (user.index + 3) % HOT, 'BUY', 2, RESTING_BUY_PRICE);
    if (sell.placeOrder.order.status !== 'OPEN' || bid.placeOrder.order.status !== 'OPEN') throw new Error('a seeded resting order traded');
  }

  // What one transient order reserves, seen in the trading account.
  const account = async () =>
    (await gql<{ me: { tradingAccount: { reservedCents: number } } }>(url, 'query { me { tradingAccount { reservedCents } } }', {}, users[0]!.token)).me
      .tradingAccount.reservedCents;
  const before = await account();
  const probe = await gql<{ placeOrder: { order: { id: string; status: string } } }>(
    url,
    PLACE,
    { input: { songId: hot[0], side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: TRANSIENT_PRICE } },
    users[0]!.token,
  );
  const reserve = (await account()) - before;
  await gql(url, CANCEL, { orderId: probe.placeOrder.order.id }, users[0]!.token);
  if (probe.placeOrder.order.status !== 'OPEN' || reserve < TRANSIENT_PRICE)
    throw new Error(`the probe order was ${probe.placeOrder.order.status}, reserving ${reserve}`);
  if ((await account()) !== before) throw new Error('cancelling the probe order did not release its reservation');
  return { users, songs, hot, reserve };
}

// ---------------------------------------------------------------------------------------------
// Answers

/** A stream URL of the answer: its signature must check and it must not have expired; the expiry itself may differ. */
const STREAM_URL = /"streamUrl":"\/media\/stream\/([^?"]+)\?exp=(\d+)&sig=([A-Za-z0-9_-]+)"/g;

function streamUrlNormalizer(secret: string) {
  const signatures = new Map<string, string>();
  return (text: string): string | null => {
    let ok = true;
    const out = text.replace(STREAM_URL, (_all, id: string, exp: string, sig: string) => {
      const key = `${id}\n${exp}`;
      let expected = signatures.get(key);
      if (expected === undefined) {
        expected = signMedia(secret, 'stream', decodeURIComponent(id), Number(exp));
        if (signatures.size > 10_000) signatures.clear();
        signatures.set(key, expected);
      }
      const now = Date.now() / 1000;
      if (sig !== expected || Number(exp) <= now || Number(exp) > now + STREAM_URL_TTL_SECONDS + 120) ok = false;
      return `"streamUrl":"/media/stream/${id}?exp=*&sig=*"`;
    });
    return ok ? out : null;
  };
}

interface PortfolioData {
  me: {
    tradingAccount: { cashCents: number; reservedCents: number };
    portfolio: { totalValueCents: number; holdings: unknown[] };
    openOrders: { id: string; side: string; quantity: number; filledQuantity: number; limitPriceCents: number | null }[];
  };
}

/** The recorded answers of one target: per key (song id or user id) the normalized text and its data. */
type Answers = Map<string, { text: string; data: unknown }>;

type Verdict = 'ok' | 'bad' | 'stale';

class Checker {
  bad = 0;
  stale = 0;
  /** Portfolio reads whose trading account and open orders show different numbers of in-flight writes (not wrong). */
  torn = 0;
  reads = 0;
  writes = 0;
  readonly examples: string[] = [];
  note(verdict: Verdict, what: string, body: string): void {
    if (verdict === 'ok') return;
    if (verdict === 'bad') this.bad++;
    else this.stale++;
    if (this.examples.length < 5) this.examples.push(`${verdict} ${what}: ${body.slice(0, 400)}`);
  }
}

/**
 * A Portfolio read during the mix: the recorded answer plus k resting 1¢ orders of the writes.
 * The trading account may count another number j of them (0..connections): it and the open orders
 * are read by separate resolvers, not in one snapshot, so a write may land between the two
 * ("torn", counted, not wrong); cash + reserved cash must be unchanged either way.
 */
function checkPortfolio(
  text: string,
  base: { text: string; data: unknown },
  reserve: number,
  mustSee?: string,
  mustNotSee?: string,
): { verdict: Verdict; why: string; torn?: boolean } {
  if (!mustSee && text === base.text) return { verdict: 'ok', why: '' };
  let body: { data?: PortfolioData; errors?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return { verdict: 'bad', why: 'not JSON' };
  }
  const me = body.data?.me;
  const was = (base.data as PortfolioData).me;
  if (body.errors || !me || !Array.isArray(me.openOrders) || !me.tradingAccount) return { verdict: 'bad', why: 'errors or no data' };
  if (!isDeepStrictEqual(me.portfolio, was.portfolio)) return { verdict: 'bad', why: 'portfolio differs' };
  if (!isDeepStrictEqual(me.openOrders.slice(0, was.openOrders.length), was.openOrders)) return { verdict: 'bad', why: 'recorded open orders differ' };
  const extra = me.openOrders.slice(was.openOrders.length);
  for (const o of extra) {
    if (typeof o.id !== 'string' || o.side !== 'BUY' || o.quantity !== 1 || o.filledQuantity !== 0 || o.limitPriceCents !== TRANSIENT_PRICE) {
      return { verdict: 'bad', why: 'an open order that is no 1¢ write' };
    }
  }
  const k = extra.length;
  const { cashCents, reservedCents } = me.tradingAccount;
  const j = (reservedCents - was.tradingAccount.reservedCents) / reserve;
  if (cashCents + reservedCents !== was.tradingAccount.cashCents + was.tradingAccount.reservedCents) return { verdict: 'bad', why: 'cash + reserved changed' };
  if (!Number.isInteger(j) || j < 0 || j > options.connections || k > options.connections)
    return { verdict: 'bad', why: `reserved cash for ${j} orders, ${k} listed` };
  if (mustSee && !extra.some((o) => o.id === mustSee)) return { verdict: 'stale', why: `own order ${mustSee} missing after placeOrder` };
  if (mustSee && j < 1) return { verdict: 'stale', why: `no cash reserved for own order ${mustSee} after placeOrder` };
  if (mustNotSee && extra.some((o) => o.id === mustNotSee)) return { verdict: 'stale', why: `own order ${mustNotSee} listed after cancelOrder` };
  return { verdict: 'ok', why: '', torn: j !== k };
}

// ---------------------------------------------------------------------------------------------
// Load

interface Target {
  key: TargetKey;
  label: string;
  role: Role;
  url: string;
  pid: number;
  answers: Map<Op, Answers>;
}

interface Group {
  op: Op;
  users: User[];
  mode: Mode;
}

interface Ctx extends Record<string, unknown> {
  /** The user (and song) of the request in flight. */
  user?: User;
  song?: string;
  /** The user (and song) of this cycle's writes, whom the read after each write reads as. */
  writer?: User;
  writerSong?: string;
  orderId?: string;
  afterPlace?: string;
  afterCancel?: string;
}

function load(target: Target, group: Group, world: World, seconds: number, checker: Checker, normalize: (text: string) => string | null): Promise<Result> {
  const { op, users, mode } = group;
  const answers = target.answers.get(op)!;
  const headers = new Map(users.map((u) => [u, { 'content-type': 'application/json', authorization: `Bearer ${u.token}` }]));
  const bodies = new Map<string, string>(
    PER_SONG[op]
      ? world.hot.map((s) => [s, JSON.stringify({ query: TEXT[op], operationName: op, variables: { id: s } })])
      : [['', JSON.stringify({ query: TEXT[op], operationName: op })]],
  );
  let next = 0;
  const turn = () => {
    const k = next++;
    return { user: users[k % users.length]!, song: world.hot[Math.floor(k / users.length) % world.hot.length]! };
  };

  const read = (forced: boolean) => ({
    setupRequest: (req: LoadRequest, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      if (forced && c.writer) Object.assign(c, { user: c.writer, song: c.writerSong });
      else Object.assign(c, turn());
      return { ...req, headers: headers.get(c.user!)!, body: bodies.get(PER_SONG[op] ? c.song! : '')! };
    },
    onResponse: (status: number, text: string, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      checker.reads++;
      if (status !== 200) return; // counted by autocannon (non2xx)
      const key = PER_SONG[op] ? c.song! : c.user!.id;
      const base = answers.get(key)!;
      let verdict: Verdict;
      let why = 'other answer';
      if (op === 'Portfolio' && mode === 'mix') {
        const checked = checkPortfolio(text, base, world.reserve, forced ? c.afterPlace : undefined, forced ? c.afterCancel : undefined);
        verdict = checked.verdict;
        why = checked.why;
        if (checked.torn) checker.torn++;
      } else if (PER_SONG[op]) {
        verdict = normalize(text) === base.text ? 'ok' : 'bad';
      } else {
        verdict = text === base.text ? 'ok' : 'bad';
      }
      checker.note(verdict, `${op} for user ${c.user!.index}${PER_SONG[op] ? ` song ${c.song}` : ''} (${why})`, text);
      c.afterPlace = undefined;
      c.afterCancel = undefined;
    },
  });
  const place = {
    setupRequest: (req: LoadRequest, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      const { user, song } = turn();
      Object.assign(c, { user, song, writer: user, writerSong: song });
      const songId = op === 'MyArtistSongs' ? user.songs[next % user.songs.length]! : song;
      const body = JSON.stringify({
        query: PLACE,
        operationName: 'PlaceOrder',
        variables: { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: TRANSIENT_PRICE } },
      });
      return { ...req, headers: headers.get(user)!, body };
    },
    onResponse: (status: number, text: string, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      checker.writes++;
      c.orderId = undefined;
      if (status !== 200) return;
      try {
        const placed = (JSON.parse(text) as { data?: { placeOrder?: { order: { id: string; status: string; filledQuantity: number }; trades: unknown[] } } })
          .data?.placeOrder;
        if (placed?.order.status === 'OPEN' && placed.order.filledQuantity === 0 && placed.trades.length === 0) {
          c.orderId = placed.order.id;
          c.afterPlace = placed.order.id;
          return;
        }
      } catch {
        // below
      }
      checker.note('bad', `placeOrder for user ${c.user!.index}`, text);
    },
  };
  const cancel = {
    setupRequest: (req: LoadRequest, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      c.user = c.writer;
      const body = JSON.stringify({ query: CANCEL, operationName: 'CancelOrder', variables: { orderId: c.orderId ?? randomUUID() } });
      return { ...req, headers: headers.get(c.writer!)!, body };
    },
    onResponse: (status: number, text: string, ctx: Record<string, unknown>) => {
      const c = ctx as Ctx;
      checker.writes++;
      if (status !== 200) return;
      try {
        const cancelled = (JSON.parse(text) as { data?: { cancelOrder?: { id: string; status: string } } }).data?.cancelOrder;
        if (c.orderId && cancelled?.id === c.orderId && cancelled.status === 'CANCELLED') {
          c.afterCancel = c.orderId;
          c.orderId = undefined;
          return;
        }
      } catch {
        // below
      }
      checker.note('bad', `cancelOrder for user ${c.user!.index}`, text);
    },
  };

  const requests: LoadOptions['requests'] =
    mode === 'read'
      ? [read(false)]
      : [place, read(true), ...Array.from({ length: 8 }, () => read(false)), cancel, read(true), ...Array.from({ length: 8 }, () => read(false))];
  return Promise.resolve(
    autocannon({
      url: target.url,
      method: 'POST',
      connections: options.connections,
      duration: seconds,
      timeout: 10,
      requests,
    }),
  );
}

/**
 * Cancels the 1¢ orders a mix run left resting (connections stopped between their two writes),
 * found in ownership's table (not through a cache), through the same target, whose caches must
 * then see the cancellations.
 */
async function cleanUp(target: Target, users: User[], db: pg.Client): Promise<number> {
  await sleep(300);
  const byId = new Map(users.map((u) => [u.id, u]));
  const { rows } = await db.query<{ id: string; user_id: string }>(
    `select id, user_id from ownership.orders where status = 'OPEN' and limit_price_cents = $1 and quantity = 1 and side = 'BUY'`,
    [TRANSIENT_PRICE],
  );
  for (const row of rows) {
    const user = byId.get(row.user_id);
    if (!user) throw new Error(`a 1¢ order ${row.id} of a user not in this run`);
    await gql(target.url, CANCEL, { orderId: row.id }, user.token);
  }
  return rows.length;
}

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  reads: number;
  writes: number;
  bad: number;
  stale: number;
  torn: number;
  /** CPU µs per request: the gateway, each subgraph, the subgraphs together, this process, the rest of the machine. */
  us: { gateway: number | null; subgraphs: number | null; rest: number | null; load: number } & Partial<Record<SubgraphRole, number | null>>;
}

async function measure(
  target: Target,
  group: Group,
  world: World,
  subgraphPids: Map<SubgraphRole, number>,
  otherPids: number[],
  normalize: (text: string) => string | null,
  warmBad: Checker | null,
  db: pg.Client,
): Promise<Measurement> {
  const checker = new Checker();
  const gwStart = cpuSeconds(target.pid);
  const sgStart = new Map([...subgraphPids].map(([name, pid]) => [name, cpuSeconds(pid)]));
  const otherStart = otherPids.map((pid) => cpuSeconds(pid) ?? 0);
  const machineStart = machineBusySeconds();
  const loadStart = process.cpuUsage();
  const result = await load(target, group, world, options.duration, checker, normalize);
  const loadUsage = process.cpuUsage(loadStart);
  const gwEnd = cpuSeconds(target.pid);
  const machineEnd = machineBusySeconds();
  const n = result.requests.total || 1;
  const per = (seconds: number | null) => (seconds === null ? null : (seconds * 1e6) / n);
  const gateway = gwStart !== null && gwEnd !== null ? gwEnd - gwStart : null;
  const sub: Partial<Record<SubgraphRole, number | null>> = {};
  let subTotal: number | null = 0;
  for (const [name, pid] of subgraphPids) {
    const end = cpuSeconds(pid);
    const start = sgStart.get(name);
    const used = start !== null && start !== undefined && end !== null ? end - start : null;
    sub[name] = per(used);
    subTotal = used === null || subTotal === null ? null : subTotal + used;
  }
  const others = otherPids.reduce((s, pid, i) => s + Math.max(0, (cpuSeconds(pid) ?? otherStart[i]!) - otherStart[i]!), 0);
  const loadSeconds = (loadUsage.user + loadUsage.system) / 1e6;
  const rest =
    machineStart === null || machineEnd === null || gateway === null || subTotal === null
      ? null
      : Math.max(0, machineEnd - machineStart - gateway - subTotal - others - loadSeconds);
  if (group.mode === 'mix') {
    const left = await cleanUp(target, group.users, db);
    if (left > options.connections) checker.note('bad', 'clean-up', `${left} transient orders were left resting (more than one per connection)`);
  }
  const measured = {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    reads: checker.reads,
    writes: checker.writes,
    bad: checker.bad + result.errors + result.timeouts + result.non2xx + (warmBad?.bad ?? 0),
    stale: checker.stale + (warmBad?.stale ?? 0),
    torn: checker.torn,
    us: { gateway: per(gateway), subgraphs: per(subTotal), rest: per(rest), load: per(loadSeconds)!, ...sub },
  };
  for (const e of [...(warmBad?.examples ?? []), ...checker.examples])
    console.error(`  ${group.op} ${group.users.length} user(s) ${group.mode} on ${target.key}: ${e}`);
  return measured;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const maxUsers = Math.max(2, ...options.users);
  console.log(
    `gateway bench: ${options.ops.join(', ')} x users ${options.users.join(', ')} x ${options.modes.join(', ')} on ${options.targets.join(', ')}; ` +
      `${options.connections} connections, ${options.warmup} s warm-up, ${options.duration} s x ${options.rounds} round(s); ` +
      `${options.songs} songs, ${maxUsers} users; node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const started = performance.now();
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-gw-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const setupPort = await freePort();
  const mediaSecret = randomBytes(32).toString('hex');
  const { env, database } = await benchEnv('benchgwops', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    OUTBOX_RELAY_INTERVAL_MS: '250',
    ACCESS_TOKEN_TTL_SECONDS: String(24 * 3600),
    STREAM_URL_TTL_SECONDS: String(STREAM_URL_TTL_SECONDS),
    PUBLIC_URL: `http://127.0.0.1:${setupPort}`,
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: mediaSecret,
    NODE_ENV: 'test',
  });

  // One process per subgraph, started in order (their migrations share the database).
  const subgraphServers = new Map<SubgraphRole, ChildServer<Role>>();
  for (const name of SUBGRAPH_ROLES) subgraphServers.set(name, await startServer(name, env));
  const { supergraph } = composeSupergraph(subgraphs, (m) => subgraphServers.get(m.name as SubgraphRole)!.url);
  const subgraphPids = new Map([...subgraphServers].map(([name, s]) => [name, s.pid]));

  const gatewayEnv = (cache: 'on' | 'off') => ({ ...env, GATEWAY_ENTITY_CACHE: cache });
  const off = await startServer('gateway-cache-off', gatewayEnv('off'), supergraph, setupPort);
  const serversSeconds = (performance.now() - started) / 1000;

  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  onCleanup(() => db.end());
  const world = await seed(off.url, env, db, maxUsers, options.songs);
  await sleep(1000); // the outbox relays' last passes
  const seedSeconds = (performance.now() - started) / 1000 - serversSeconds;

  const servers = new Map<TargetKey, ChildServer<Role>>([['off', off]]);
  if (options.targets.includes('on')) servers.set('on', await startServer('gateway-cache-on', gatewayEnv('on'), supergraph));
  if (options.targets.includes('off0')) servers.set('off0', await startServer('gateway-nomerge', gatewayEnv('off'), supergraph));
  if (options.targets.includes('stock')) servers.set('stock', await startServer('stock', env, supergraph));
  console.log(
    `setup: ${SUBGRAPH_ROLES.length} subgraphs and a gateway ${fmt(serversSeconds, 1)} s; ${options.songs} published songs with offerings, ${maxUsers} artists/traders, ` +
      `${HOT} traded songs, 2 resting orders per user ${fmt(seedSeconds, 1)} s; a 1¢ order reserves ${world.reserve}¢`,
  );

  // Every target's answers before any load: equal data everywhere, non-trivial data.
  const normalize = streamUrlNormalizer(mediaSecret);
  const targets: Target[] = [];
  const reference = new Map<string, unknown>();
  for (const t of TARGETS.filter((x) => options.targets.includes(x.key))) {
    const server = servers.get(t.key)!;
    const target: Target = { key: t.key, label: t.label, role: t.role, url: server.url, pid: server.pid, answers: new Map() };
    for (const op of options.ops) {
      const answers: Answers = new Map();
      for (const user of world.users) {
        for (const song of PER_SONG[op] ? world.hot : ['']) {
          const { status, text } = await postGraphQL(server.url, TEXT[op], PER_SONG[op] ? { id: song } : {}, user.token);
          const normalized = PER_SONG[op] ? normalize(text) : text;
          const body = JSON.parse(text) as { data?: unknown; errors?: unknown };
          if (status !== 200 || body.errors || !body.data || normalized === null) throw new Error(`${t.label} answered ${op} ${status} ${text.slice(0, 500)}`);
          const data = JSON.parse(normalized) as { data: unknown };
          const key = PER_SONG[op] ? song : user.id;
          const ref = `${op}\n${key}`;
          if (!reference.has(ref)) {
            checkNonTrivial(op, data.data, world);
            reference.set(ref, data.data);
          } else if (!isDeepStrictEqual(reference.get(ref), data.data)) {
            throw new Error(
              `${t.label} answered ${op} for user ${user.index} ${song} with other data than the first answer:\n${normalized}\n${JSON.stringify(reference.get(ref))}`,
            );
          }
          // The exact text this target gave (per song: the first user's), which the load compares with.
          if (!answers.has(key)) answers.set(key, { text: normalized, data: data.data });
        }
      }
      target.answers.set(op, answers);
    }
    targets.push(target);
  }
  console.log(`answers recorded and equal on ${targets.map((t) => t.key).join(', ')}: ${options.ops.join(', ')} for ${maxUsers} users (and ${HOT} songs)`);

  const allPids = [...servers.values()].map((s) => s.pid);
  interface Row {
    op: Op;
    users: number;
    mode: Mode;
    target: TargetKey;
    rounds: Measurement[];
  }
  const rows: Row[] = [];
  for (const op of options.ops) {
    for (const userCount of options.users) {
      for (const mode of options.modes) {
        const group: Group = { op, users: world.users.slice(0, userCount), mode };
        const groupRows = targets.map((t) => ({ op, users: userCount, mode, target: t.key, rounds: [] as Measurement[] }));
        rows.push(...groupRows);
        for (let round = 1; round <= options.rounds; round++) {
          for (const [i, target] of targets.entries()) {
            let warmBad: Checker | null = null;
            if (round === 1 && options.warmup > 0) {
              warmBad = new Checker();
              const warm = await load(target, group, world, options.warmup, warmBad, normalize);
              warmBad.bad += warm.errors + warm.timeouts + warm.non2xx;
              if (mode === 'mix') await cleanUp(target, group.users, db);
            }
            const m = await measure(
              target,
              group,
              world,
              subgraphPids,
              allPids.filter((p) => p !== target.pid),
              normalize,
              warmBad,
              db,
            );
            groupRows[i]!.rounds.push(m);
            console.log(
              `${op} ${userCount} user(s) ${mode} round ${round}/${options.rounds} ${target.label}: ${fmt(m.rps)} req/s, p99 ${fmt(m.p99)} ms, ` +
                `gateway ${fmt(m.us.gateway)} µs/req` +
                (m.bad || m.stale ? `, ${m.bad} BAD, ${m.stale} STALE` : ''),
            );
          }
        }
      }
    }
  }

  // Medians.
  const summary = rows.map((r) => {
    const med = (f: (m: Measurement) => number | null) => medianOrNull(r.rounds.map(f));
    return {
      op: r.op,
      users: r.users,
      mode: r.mode,
      target: r.target,
      rps: median(r.rounds.map((m) => m.rps)),
      p50: median(r.rounds.map((m) => m.p50)),
      p99: median(r.rounds.map((m) => m.p99)),
      us: {
        gateway: med((m) => m.us.gateway),
        subgraphs: med((m) => m.us.subgraphs),
        rest: med((m) => m.us.rest),
        load: med((m) => m.us.load),
        ...Object.fromEntries(SUBGRAPH_ROLES.map((name) => [name, med((m) => m.us[name] ?? null)])),
      } as Record<string, number | null>,
      requests: r.rounds.reduce((s, m) => s + m.requests, 0),
      writes: r.rounds.reduce((s, m) => s + m.writes, 0),
      bad: r.rounds.reduce((s, m) => s + m.bad, 0),
      stale: r.rounds.reduce((s, m) => s + m.stale, 0),
      torn: r.rounds.reduce((s, m) => s + m.torn, 0),
    };
  });
  const stockRps = (s: (typeof summary)[number]) => summary.find((x) => x.op === s.op && x.users === s.users && x.mode === s.mode && x.target === 'stock')?.rps;
  const ratio = (s: (typeof summary)[number]) => {
    const stock = stockRps(s);
    return stock ? s.rps / stock : null;
  };

  console.log('');
  console.log(
    table([
      [
        'operation',
        'users',
        'mode',
        'target',
        'req/s',
        'x stock',
        'p50 ms',
        'p99 ms',
        'gateway µs/req',
        'subgraphs µs/req',
        'rest µs/req',
        'requests',
        'writes',
        'bad',
        'stale',
        'torn',
      ],
      ...summary.map((s) => [
        s.op,
        String(s.users),
        s.mode,
        TARGETS.find((t) => t.key === s.target)!.label,
        fmt(s.rps),
        fmt(ratio(s), 2),
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.us.gateway!),
        fmt(s.us.subgraphs!),
        fmt(s.us.rest!),
        fmt(s.requests),
        fmt(s.writes),
        fmt(s.bad),
        fmt(s.stale),
        fmt(s.torn),
      ]),
    ]),
  );
  console.log('(medians over rounds; req/s counts reads and writes. CPU µs/req = CPU time of the process(es) per request served:');
  console.log(' gateway = the target process, subgraphs = the subgraph processes together, rest = the machine minus those, the');
  console.log(' other targets and this process: PostgreSQL, Redis and anything else running; torn = mix Portfolio reads whose');
  console.log(' trading account and open orders count different numbers of in-flight 1¢ orders: read apart, allowed)');
  console.log('');
  console.log('CPU µs per request, per process (medians):');
  console.log(
    table([
      ['operation', 'users', 'mode', 'target', 'gateway', ...SUBGRAPH_ROLES, 'rest', 'autocannon'],
      ...summary.map((s) => [
        s.op,
        String(s.users),
        s.mode,
        s.target,
        fmt(s.us.gateway!),
        ...SUBGRAPH_ROLES.map((name) => fmt(s.us[name] ?? null)),
        fmt(s.us.rest!),
        fmt(s.us.load!),
      ]),
    ]),
  );

  // The issue's bar: ours (cache on) >= 2x stock per operation, at the most users, in the mix (else read).
  const barUsers = Math.max(...options.users);
  const barMode: Mode = options.modes.includes('mix') ? 'mix' : 'read';
  const bars: { op: Op; value: number | null }[] = [];
  if (options.targets.includes('on') && options.targets.includes('stock')) {
    console.log('');
    for (const op of options.ops) {
      const s = summary.find((x) => x.op === op && x.users === barUsers && x.mode === barMode && x.target === 'on')!;
      const value = ratio(s);
      bars.push({ op, value });
      console.log(`${op}, ${barUsers} users, ${barMode}: on/stock = ${fmt(value, 2)} (>= 2: ${value !== null && value >= 2 ? 'met' : 'MISSED'})`);
    }
  }

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify({ options: { ...options, cpuProf: [...options.cpuProf] }, reservePerOrderCents: world.reserve, summary, rounds: rows, bars }, null, 2) +
        '\n',
    );
  }
  if (options.cpuProf.size) console.log(`CPU profiles (written as the servers exit): ${join(here, 'profiles')}`);

  const bad = summary.some((s) => s.bad > 0 || s.stale > 0);
  if (bad) console.error('FAILED: some responses were wrong or stale (see "bad", "stale"); the numbers do not count.');
  const missed = bars.some((b) => b.value === null || b.value < 2);
  return bad || (options.check && missed) ? 1 : 0;
}

/** Guards against a benchmark of empty answers. */
function checkNonTrivial(op: Op, data: unknown, world: World): void {
  const fail = (why: string) => {
    throw new Error(`${op} answered trivial data (${why}): ${JSON.stringify(data).slice(0, 500)}`);
  };
  switch (op) {
    case 'Song': {
      const song = (data as { song?: { artist?: { name?: string }; streamUrl?: string } }).song;
      if (!song?.artist?.name || !song.streamUrl) fail('no artist or stream URL');
      break;
    }
    case 'SongDetails': {
      const song = (data as { song?: { market?: { lastTradePriceCents?: number | null; offering?: unknown } } }).song;
      if (!song?.market?.lastTradePriceCents || !song.market.offering) fail('no trade or offering');
      break;
    }
    case 'MyArtistSongs': {
      const songs = (data as { me?: { artistProfile?: { songs?: { totalCount: number; edges: { node: { market?: { offering?: unknown } } }[] } } } }).me
        ?.artistProfile?.songs;
      if (!songs || songs.totalCount < Math.floor(world.songs.length / world.users.length) || songs.edges.some((e) => !e.node.market?.offering)) {
        fail('no songs with offerings');
      }
      break;
    }
    case 'Portfolio': {
      const me = (data as Partial<PortfolioData>).me;
      if (!me || me.portfolio.holdings.length < 6 || me.openOrders.length !== 2 || me.tradingAccount.reservedCents <= 0) fail('holdings, 2 open orders');
      break;
    }
  }
}

runBench(main);
