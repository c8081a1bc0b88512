/**
 * Market benchmark (`npm run bench:market`), in one run:
 *
 *  1. The matching engine alone (engine.ts, runEngineBench): new orders per second against books
 *     of 100 and 10,000 resting orders, in this process, before any server starts.
 *     Target: >= 200,000 orders/s at both sizes.
 *  2. placeOrder through the gateway: identity, catalog, ownership and our gateway each in their
 *     own child process (server.ts). An artist publishes a few songs and opens an offering on
 *     each; N traders sign up, get a deposit (a payments.deposit.succeeded.v1 event on the run's
 *     Redis prefix, as payments will send it) and buy shares of every offering. Then C clients,
 *     each with its own traders' tokens (no two clients share one), send placeOrder one request
 *     at a time for a warm-up and the measured seconds: random LIMIT (90%) and MARKET BUY/SELL
 *     orders of 1-10 shares around a mid price, on a random song. Printed: requests/s, placed
 *     orders/s, p50/p99 latency, trades, answers by error code, CPU per process, SQL statements
 *     per order in the ownership process (count and round-trip time per statement), and what
 *     the database's sessions were doing (sampled pg_stat_activity: running, waiting for the
 *     song lock or a row lock, or idle in a transaction while ownership works).
 *     Target: >= 300 placed orders/s.
 *     Every answer is checked (fills add up to filledQuantity, trade prices within the limit,
 *     status consistent); any error other than INSUFFICIENT_FUNDS, or a wrong answer, fails the
 *     run (exit 1).
 *  3. The ownership invariants by SQL after the load (checkInvariants of the ownership tests:
 *     shares and cash conserved, balanced journal, no negative balance, reservations equal the
 *     open orders'), orders and trades in the database equal to the answers, and the API's
 *     book equal to the resting orders. Any broken one fails the run.
 *
 * Options (flag or environment variable):
 *   --duration=S        BENCH_DURATION        measured seconds of placeOrder load (10)
 *   --warmup=S          BENCH_WARMUP          warm-up seconds before it (2)
 *   --clients=N         BENCH_CLIENTS         concurrent clients, one request in flight each (20)
 *   --traders=N         BENCH_TRADERS         funded traders, shared out among the clients (50)
 *   --songs=N           BENCH_SONGS           songs on the market (4)
 *   --engine-orders=N   BENCH_ENGINE_ORDERS   measured engine operations per book size and round (300000)
 *   --engine-rounds=N   BENCH_ENGINE_ROUNDS   engine rounds, medians reported (3; 0 skips part 1)
 *   --cpu-prof=ROLES    BENCH_CPU_PROF        ownership, gateway, identity and/or catalog under
 *                                             `node --cpu-prof` (profiles in bench/market/profiles)
 *   --json=FILE         BENCH_JSON            also write the results as JSON
 *   --check             BENCH_CHECK=1         exit 1 when a target is missed
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { composeSupergraph, createInfra, createLogger, newEnvelope } from '@vibestream/platform';
import { freePort } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '@vibestream/ownership';
import { checkInvariants } from '@vibestream/ownership/testing';
import { startChild, type ChildServer } from '../lib/children.ts';
import { fmt, pct, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import { formatEngineBench, runEngineBench, type EngineBenchResult } from './engine.ts';
import type { LoopLog, Role, SqlLog } from './server.ts';
import { makeWav } from '@vibestream/catalog/testing';
import { seededRandom } from '../lib/random.ts';

const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    clients: { type: 'string' },
    traders: { type: 'string' },
    songs: { type: 'string' },
    'engine-orders': { type: 'string' },
    'engine-rounds': { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

const options = {
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 10, 1),
  warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 2, 0),
  clients: Math.round(numberOption(flags.clients, 'clients', 'BENCH_CLIENTS', 20, 1)),
  traders: Math.round(numberOption(flags.traders, 'traders', 'BENCH_TRADERS', 50, 2)),
  songs: Math.round(numberOption(flags.songs, 'songs', 'BENCH_SONGS', 4, 1)),
  engineOrders: Math.round(numberOption(flags['engine-orders'], 'engine-orders', 'BENCH_ENGINE_ORDERS', 300_000, 1000)),
  engineRounds: Math.round(numberOption(flags['engine-rounds'], 'engine-rounds', 'BENCH_ENGINE_ROUNDS', 3, 0)),
  cpuProf: new Set((flags['cpu-prof'] ?? process.env.BENCH_CPU_PROF ?? '').split(',').filter(Boolean)),
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};
if (options.clients > options.traders) throw new Error('--clients must not exceed --traders: every client needs traders of its own');

const TARGET_ENGINE_ORDERS_PER_S = 200_000;
const TARGET_PLACE_ORDERS_PER_S = 300;
/** Offering price and the mid price orders are placed around, in cents; a tick is 1 cent. */
const MID_CENTS = 1000;
const SHARES_PER_SONG = 500;
/** Cash each trader keeps after buying its shares. */
const SPARE_CASH_CENTS = 3_000_000;
/** Errors placeOrder may answer in this load without the run failing. */
const EXPECTED_CODES = new Set(['INSUFFICIENT_FUNDS']);

const PLACE = `mutation PlaceOrder($input: PlaceOrderInput!) { placeOrder(input: $input) {
  order { id side type status quantity filledQuantity limitPriceCents averageFillPriceCents } trades { id priceCents quantity } } }`;
const BOOK = `query OrderBook($songId: ID!) { orderBook(songId: $songId, depth: 100) { bids { priceCents quantity orders } asks { priceCents quantity orders } } }`;

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`. */
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

/** Runs task(0..count-1) with at most `concurrency` in flight; results in index order. */
async function inTurn<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** CPU seconds per process of every process whose command name (/proc/<pid>/comm) is `name`. */
function cpuByName(name: string): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const entry of entries) {
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== name) continue;
    } catch {
      continue;
    }
    const cpu = cpuSeconds(Number(entry));
    if (cpu !== null) out.set(Number(entry), cpu);
  }
  return out;
}

/** CPU seconds used since `start` by the processes named like those in it (new ones count whole). */
function cpuSince(name: string, start: Map<number, number>): number {
  let used = 0;
  for (const [pid, cpu] of cpuByName(name)) used += cpu - (start.get(pid) ?? 0);
  return used;
}

/**
 * CPU of some processes, of this one ("bench"), of PostgreSQL (all its processes, every
 * database) and Redis, and of the rest of the machine, over a stretch of wall time.
 */
function cpuMeter(pids: Record<string, number>) {
  const wallStart = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const groups = { postgres: cpuByName('postgres'), redis: cpuByName('redis-server') };
  const self = process.cpuUsage();
  const machine = machineBusySeconds();
  return () => {
    const wall = (performance.now() - wallStart) / 1000;
    const used: Record<string, number | null> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const end = cpuSeconds(pid);
      used[name] = start[name] === null || end === null ? null : (end - start[name]!) / wall;
    }
    const selfUsage = process.cpuUsage(self);
    used.bench = (selfUsage.user + selfUsage.system) / 1e6 / wall;
    used.postgres = groups.postgres.size ? cpuSince('postgres', groups.postgres) / wall : null;
    used.redis = groups.redis.size ? cpuSince('redis-server', groups.redis) / wall : null;
    const machineEnd = machineBusySeconds();
    const total = machine === null || machineEnd === null ? null : (machineEnd - machine) / wall;
    used.rest = total === null ? null : Math.max(0, total - Object.values(used).reduce<number>((a, b) => a + (b ?? 0), 0));
    return { wall, cpu: used };
  };
}

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// The placeOrder load

interface Trader {
  userId: string;
  token: string;
}

interface OrderInput {
  songId: string;
  side: 'BUY' | 'SELL';
  type: 'LIMIT' | 'MARKET';
  quantity: number;
  limitPriceCents?: number;
}

interface PlaceAnswer {
  data?: {
    placeOrder: {
      order: { id: string; side: string; type: string; status: string; quantity: number; filledQuantity: number; limitPriceCents: number | null };
      trades: { id: string; priceCents: number; quantity: number }[];
    };
  } | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** A random order: 10% MARKET; a LIMIT is priced -2..+6 ticks from the mid on its own side, so some cross and most rest near the mid. */
function randomOrder(random: () => number, songs: string[]): OrderInput {
  const songId = songs[Math.floor(random() * songs.length)]!;
  const side = random() < 0.5 ? 'BUY' : 'SELL';
  const quantity = 1 + Math.floor(random() * 10);
  if (random() < 0.1) return { songId, side, type: 'MARKET', quantity };
  const away = Math.floor(random() * 9) - 2;
  return { songId, side, type: 'LIMIT', quantity, limitPriceCents: side === 'BUY' ? MID_CENTS - away : MID_CENTS + away };
}

/** Why an accepted answer is wrong, or null. */
function wrongAnswer(input: OrderInput, placed: NonNullable<PlaceAnswer['data']>['placeOrder']): string | null {
  const { order, trades } = placed;
  if (order.side !== input.side || order.type !== input.type || order.quantity !== input.quantity) return 'order differs from the input';
  const filled = trades.reduce((s, t) => s + t.quantity, 0);
  if (filled !== order.filledQuantity) return `trades add up to ${filled}, filledQuantity is ${order.filledQuantity}`;
  if (order.status === 'FILLED' ? filled !== order.quantity : filled >= order.quantity)
    return `status ${order.status} with ${filled} of ${order.quantity} filled`;
  if (order.status === 'OPEN' && input.type === 'MARKET') return 'a MARKET order rests';
  if (
    input.limitPriceCents !== undefined &&
    trades.some((t) => (input.side === 'BUY' ? t.priceCents > input.limitPriceCents! : t.priceCents < input.limitPriceCents!))
  ) {
    return 'a trade outside the limit price';
  }
  return null;
}

interface LoadResult {
  seconds: number;
  requests: number;
  /** Accepted orders (answered without error). */
  placed: number;
  trades: number;
  sharesTraded: number;
  byStatus: Record<string, number>;
  /** Answers by error code ("OK" for accepted ones, HTTP_<status>, NETWORK_ERROR, WRONG_ANSWER). */
  codes: Record<string, number>;
  examples: Record<string, string>;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1000 });

function post(url: URL, body: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * C clients, each sending placeOrder one at a time with its own traders' tokens in turn, for
 * `seconds`: a client starts no request after the deadline; its last one is counted.
 */
async function placeOrderLoad(url: string, clients: Trader[][], songs: string[], seconds: number, seed: number): Promise<LoadResult> {
  const target = new URL(url);
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  const examples: Record<string, string> = {};
  const byStatus: Record<string, number> = {};
  let trades = 0;
  let sharesTraded = 0;
  const count = (code: string, example: string) => {
    codes[code] = (codes[code] ?? 0) + 1;
    if (code !== 'OK' && examples[code] === undefined) examples[code] = example.slice(0, 300);
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    clients.map(async (mine, c) => {
      const random = seededRandom(seed * 1000 + c);
      for (let i = 0; performance.now() < deadline; i++) {
        const trader = mine[i % mine.length]!;
        const input = randomOrder(random, songs);
        const body = JSON.stringify({ query: PLACE, variables: { input }, operationName: 'PlaceOrder' });
        const sent = performance.now();
        let answer: { status: number; text: string };
        try {
          answer = await post(target, body, trader.token);
        } catch (error) {
          latencies.push(performance.now() - sent);
          count('NETWORK_ERROR', String(error));
          continue;
        }
        latencies.push(performance.now() - sent);
        let parsed: PlaceAnswer;
        try {
          parsed = JSON.parse(answer.text) as PlaceAnswer;
        } catch {
          count(`HTTP_${answer.status}`, answer.text);
          continue;
        }
        if (parsed.errors?.length) {
          count(parsed.errors[0]!.extensions?.code ?? 'NO_CODE', `${JSON.stringify(input)} -> ${parsed.errors[0]!.message}`);
          continue;
        }
        const placed = parsed.data?.placeOrder;
        if (answer.status !== 200 || !placed) {
          count(`HTTP_${answer.status}`, answer.text);
          continue;
        }
        const wrong = wrongAnswer(input, placed);
        if (wrong) {
          count('WRONG_ANSWER', `${wrong}: ${JSON.stringify(input)} -> ${answer.text}`);
          continue;
        }
        count('OK', '');
        byStatus[placed.order.status] = (byStatus[placed.order.status] ?? 0) + 1;
        trades += placed.trades.length;
        sharesTraded += placed.order.filledQuantity;
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    seconds: wall,
    requests: latencies.length,
    placed: codes.OK ?? 0,
    trades,
    sharesTraded,
    byStatus,
    codes,
    examples,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    max: latencies[latencies.length - 1] ?? NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// What the database's sessions do during the load

interface ActivitySample {
  samples: number;
  /** Mean number of sessions in each state over the samples. */
  mean: Record<string, number>;
}

function activityLabel(state: string | null, waitType: string | null, waitEvent: string | null): string {
  if (state === 'active') {
    if (!waitType) return 'running a statement';
    if (waitType === 'Lock') return waitEvent === 'advisory' ? 'waiting for a song lock (advisory)' : `waiting for a row lock (${waitEvent})`;
    return `running, waiting on ${waitType}:${waitEvent}`;
  }
  if (state === 'idle in transaction') return 'in a transaction, waiting for its client';
  return state ?? 'unknown';
}

/** Samples pg_stat_activity of the run's database every `intervalMs` until the returned function is called. */
async function sampleActivity(databaseUrl: string, intervalMs: number): Promise<() => Promise<ActivitySample>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // The database is dropped at the end even when a run is cut short (Ctrl-C): then the sampler just stops.
  client.on('error', () => undefined);
  await client.connect();
  const totals = new Map<string, number>();
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const { rows } = await client.query<{ state: string | null; wait_event_type: string | null; wait_event: string | null; n: number }>(
        `select state, wait_event_type, wait_event, count(*)::int as n from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
         group by 1, 2, 3`,
      );
      samples++;
      for (const r of rows) {
        const label = activityLabel(r.state, r.wait_event_type, r.wait_event);
        totals.set(label, (totals.get(label) ?? 0) + r.n);
      }
      await sleep(Math.max(0, intervalMs - (performance.now() - started)));
    }
  })().catch(() => undefined);
  return async () => {
    stopped = true;
    await loop;
    await client.end().catch(() => undefined);
    return {
      samples,
      mean: Object.fromEntries([...totals].map(([label, n]) => [label, n / Math.max(1, samples)]).sort((a, b) => (b[1] as number) - (a[1] as number))),
    };
  };
}

// ---------------------------------------------------------------------------------------------

function startServer(role: Role, env: NodeJS.ProcessEnv, extra: { supergraphSdl?: string; port?: number } = {}): Promise<ChildServer<Role>> {
  const execArgv = [...process.execArgv];
  if (options.cpuProf.has(role)) {
    const dir = join(here, 'profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`);
  }
  return startChild(join(here, 'server.ts'), { role, env, ...extra }, { execArgv });
}

function engineSection(): EngineBenchResult | null {
  if (options.engineRounds === 0) return null;
  console.log('');
  console.log(
    `1. Matching engine alone (engine.ts): ${fmt(options.engineOrders)} operations per book size and round, ${options.engineRounds} round(s), medians; ` +
      'orders/s counts new orders, ops/s also the 10% cancels',
  );
  const result = runEngineBench({ orders: options.engineOrders, rounds: options.engineRounds });
  console.log(formatEngineBench(result));
  const worst = Math.min(...result.rows.map((r) => r.ordersPerSecond));
  console.log(
    `target >= ${fmt(TARGET_ENGINE_ORDERS_PER_S)} orders/s at every size: ${worst >= TARGET_ENGINE_ORDERS_PER_S ? 'met' : 'MISSED'} (lowest ${fmt(worst)})`,
  );
  return result;
}

async function main(): Promise<number> {
  console.log(
    `market bench: node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const engine = engineSection();

  // ------------------------------------------------------------------ servers and data
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-market-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const gatewayPort = await freePort();
  const { env, database } = await benchEnv('benchmkt', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    // Relays are kicked when their events commit; the interval is only a fallback poll.
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: randomBytes(32).toString('hex'),
  });
  const setupStarted = performance.now();
  const [identity, catalog, ownership] = await Promise.all([startServer('identity', env), startServer('catalog', env), startServer('ownership', env)]);
  const urls = new Map([
    [identitySubgraph.name, identity.url],
    [catalogSubgraph.name, catalog.url],
    [ownershipSubgraph.name, ownership.url],
  ]);
  const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph, ownershipSubgraph], (m) => urls.get(m.name)!);
  const gateway = await startServer('gateway', env, { supergraphSdl: supergraph, port: gatewayPort });
  const url = gateway.url;
  const serversSeconds = (performance.now() - setupStarted) / 1000;

  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  onCleanup(() => db.end());

  const register = async (role: 'FAN' | 'ARTIST', name: string) =>
    (
      await gql<{ register: { accessToken: string; user: { id: string } } }>(
        url,
        `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
        { input: { email: `bench-${role.toLowerCase()}-${randomBytes(6).toString('hex')}@example.com`, password: 'a-long-password', displayName: name, role } },
      )
    ).register;

  // S artists (the FREE plan allows 3 uploads a month), each with a published song and an offering on it;
  // ownership learns the songs from the catalog's events.
  const wav = makeWav(1, 4000);
  const songs: string[] = [];
  const artists: string[] = [];
  for (let i = 0; i < options.songs; i++) {
    const artist = (await register('ARTIST', `Bench Artist ${i + 1}`)).accessToken;
    await gql(
      url,
      `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`,
      { input: { name: `Bench Market Band ${i + 1}` } },
      artist,
    );
    const songId = (
      await gql<{ createSong: { id: string } }>(
        url,
        `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
        { input: { title: `Market Song ${i + 1}`, genre: 'Pop' } },
        artist,
      )
    ).createSong.id;
    const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
      url,
      `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl } }`,
      { songId, contentType: 'audio/wav', byteSize: wav.length },
      artist,
    );
    const uploaded = await fetch(new URL(ticket.requestSongUpload.uploadUrl, url), {
      method: 'PUT',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(wav),
    });
    if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
    await gql(url, `mutation($songId: ID!) { publishSong(songId: $songId) { status } }`, { songId }, artist);
    songs.push(songId);
    artists.push(artist);
  }
  await until('ownership to learn the songs', async () => Number((await db.query('select count(*) from ownership.songs')).rows[0].count) === options.songs);
  for (const [i, songId] of songs.entries()) {
    await gql(
      url,
      `mutation($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id } }`,
      { input: { songId, totalShares: 100_000, pricePerShareCents: MID_CENTS, revenueShareBps: 1000 } },
      artists[i],
    );
  }
  const offerings = ((await db.query('select id from ownership.offerings')).rows as { id: string }[]).map((r) => r.id);

  // Traders: signed up, funded by deposit events, holding shares of every song.
  const traders: Trader[] = (await inTurn(options.traders, 8, (i) => register('FAN', `Bench Trader ${i + 1}`))).map((r) => ({
    userId: r.user.id,
    token: r.accessToken,
  }));
  const depositCents = options.songs * SHARES_PER_SONG * MID_CENTS + SPARE_CASH_CENTS;
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log: createLogger('bench', 'silent') });
  try {
    for (const t of traders) {
      await infra.transport.append(
        newEnvelope('payments', 'payments.deposit.succeeded.v1', {
          depositId: randomBytes(12).toString('hex'),
          userId: t.userId,
          amountCents: depositCents,
          method: 'CARD',
          succeededAt: new Date().toISOString(),
        }),
      );
    }
  } finally {
    await infra.close();
  }
  await until(
    'ownership to credit the deposits',
    async () => Number((await db.query('select count(*) from ownership.deposits')).rows[0].count) === traders.length,
  );
  await inTurn(traders.length * offerings.length, 8, (i) =>
    gql(
      url,
      `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity } }`,
      { offeringId: offerings[i % offerings.length], quantity: SHARES_PER_SONG },
      traders[Math.floor(i / offerings.length)]!.token,
    ),
  );
  // Each client its own traders: client c takes traders c, c + C, c + 2C, ...
  const clients: Trader[][] = Array.from({ length: options.clients }, (_, c) => traders.filter((_, i) => i % options.clients === c));
  console.log('');
  console.log(
    `setup: servers ${fmt(serversSeconds, 1)} s; ${options.songs} songs published, each with an offering of 100,000 shares at ${fmt(MID_CENTS)} cents; ` +
      `${options.traders} traders with a deposit of ${fmt(depositCents)} cents and ${SHARES_PER_SONG} shares of every song; ${fmt((performance.now() - setupStarted) / 1000, 1)} s in all`,
  );

  // ------------------------------------------------------------------ 2. placeOrder under load
  console.log('');
  console.log(
    `2. placeOrder through the gateway: ${options.clients} clients, one request in flight each, with their own ${Math.floor(options.traders / options.clients)}-${Math.ceil(options.traders / options.clients)} traders' tokens in turn; ` +
      `${options.songs} songs; ${options.warmup} s warm-up + ${options.duration} s`,
  );
  console.log(
    `   orders: random song, BUY or SELL, 1-10 shares, 10% MARKET, LIMIT priced -2..+6 cents from the ${fmt(MID_CENTS)}-cent mid on the order's own side`,
  );
  const pids = { gateway: gateway.pid, ownership: ownership.pid, identity: identity.pid, catalog: catalog.pid };
  const warm = options.warmup > 0 ? await placeOrderLoad(url, clients, songs, options.warmup, 1) : null;
  const dbStats = async () => {
    await db.query('select pg_stat_clear_snapshot()');
    return (await db.query(`select deadlocks::int, xact_rollback::int from pg_stat_database where datname = current_database()`)).rows[0] as {
      deadlocks: number;
      xact_rollback: number;
    };
  };
  const statsBefore = await dbStats();
  await ownership.call('resetSql');
  await ownership.call('resetLoop');
  const stopSampling = await sampleActivity(database.url, 50);
  const meter = cpuMeter(pids);
  const load = await placeOrderLoad(url, clients, songs, options.duration, 2);
  const { cpu } = meter();
  const activity = await stopSampling();
  const sql = await ownership.call<SqlLog>('sql');
  const loop = await ownership.call<LoopLog>('loop');
  // PostgreSQL reports a session's counters when it goes idle, at most once a second.
  await sleep(1100);
  const statsAfter = await dbStats();
  const deadlocks = statsAfter.deadlocks - statsBefore.deadlocks;
  const rollbacks = statsAfter.xact_rollback - statsBefore.xact_rollback;

  const requestsPerSecond = load.requests / load.seconds;
  const placedPerSecond = load.placed / load.seconds;
  console.log(
    table([
      ['load', 'requests/s', 'placed orders/s', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'requests', 'placed', 'trades', 'shares traded'],
      [
        `${options.clients} clients, ${fmt(load.seconds, 1)} s`,
        fmt(requestsPerSecond),
        fmt(placedPerSecond),
        fmt(load.p50, 1),
        fmt(load.p99, 1),
        fmt(load.mean, 1),
        fmt(load.max, 1),
        fmt(load.requests),
        fmt(load.placed),
        fmt(load.trades),
        fmt(load.sharesTraded),
      ],
    ]),
  );
  console.log(
    `answers: ${Object.entries(load.codes)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code} ${fmt(n)}`)
      .join(', ')}; accepted orders ended ${Object.entries(load.byStatus)
      .map(([s, n]) => `${s} ${fmt(n)}`)
      .join(', ')}`,
  );
  for (const [code, example] of Object.entries(load.examples)) console.log(`  e.g. ${code}: ${example}`);
  console.log(`target >= ${TARGET_PLACE_ORDERS_PER_S} placed orders/s: ${placedPerSecond >= TARGET_PLACE_ORDERS_PER_S ? 'met' : 'MISSED'}`);
  console.log(
    `CPU (100% = one of the 2 cores): ${Object.entries(cpu)
      .map(([name, c]) => `${name} ${pct(c)}`)
      .join(', ')} (bench = this process, the load generator; postgres = all its processes; rest = anything else running)`,
  );
  const perRequest = (c: number | null | undefined) =>
    c === null || c === undefined || load.requests === 0 ? '-' : fmt((c * load.seconds * 1e6) / load.requests);
  console.log(
    `CPU per placeOrder request: ownership ${perRequest(cpu.ownership)} µs, gateway ${perRequest(cpu.gateway)} µs, postgres ${perRequest(cpu.postgres)} µs, redis ${perRequest(cpu.redis)} µs; ` +
      `${fmt(sql.count / load.requests, 1)} SQL statements from ownership, ${fmt(sql.ms / load.requests, 2)} ms of their round trips`,
  );
  console.log(
    `ownership event loop: ${pct(loop.utilization)} busy, timers late by p50 ${fmt(loop.delayP50, 1)} ms, p99 ${fmt(loop.delayP99, 1)} ms, max ${fmt(loop.delayMax, 1)} ms; ` +
      `PostgreSQL (whole database): ${fmt(deadlocks)} deadlocks, ${fmt(rollbacks)} rolled-back transactions (deadlock_timeout ${(await db.query('show deadlock_timeout')).rows[0].deadlock_timeout})`,
  );

  console.log('');
  console.log(
    `SQL statements of the ownership process per placeOrder request (counted in the process, all of them: the requests', the outbox relay's, the live book's)`,
  );
  const statements = [...sql.statements].sort((a, b) => b.count - a.count || b.ms - a.ms);
  const shown = statements.slice(0, 30);
  const rest = statements.slice(30);
  console.log(
    table([
      ['per request', 'mean ms', 'max ms', 'ms per request', 'statement (literals as ?)'],
      ...shown.map((s) => [
        fmt(s.count / load.requests, 2),
        fmt(s.ms / s.count, 2),
        fmt(s.maxMs, 0),
        fmt(s.ms / load.requests, 2),
        s.sql.length > 100 ? `${s.sql.slice(0, 97)}...` : s.sql,
      ]),
      ...(rest.length
        ? [
            [
              fmt(rest.reduce((n, s) => n + s.count, 0) / load.requests, 2),
              '',
              '',
              fmt(rest.reduce((n, s) => n + s.ms, 0) / load.requests, 2),
              `(${rest.length} other statement shapes)`,
            ],
          ]
        : []),
      [fmt(sql.count / load.requests, 2), fmt(sql.ms / Math.max(1, sql.count), 2), '', fmt(sql.ms / load.requests, 2), 'all'],
    ]),
  );
  console.log('("mean ms" = round trip seen by the process: PostgreSQL\'s work, lock waits, and the wait until the busy process reads the answer)');

  console.log('');
  console.log(
    `Database sessions during the load (pg_stat_activity every 50 ms, ${activity.samples} samples; mean sessions in each state; identity and catalog are idle):`,
  );
  const waitMsPerRequest = (sessions: number) => fmt((sessions / requestsPerSecond) * 1000, 2);
  console.log(
    table([
      ['state', 'mean sessions', 'ms per request'],
      ...Object.entries(activity.mean).map(([label, n]) => [label, fmt(n, 2), label === 'idle' ? '' : waitMsPerRequest(n)]),
    ]),
  );
  console.log('("ms per request" = mean sessions / requests per second (Little\'s law): how long each request spends in that state)');

  // ------------------------------------------------------------------ 3. invariants
  console.log('');
  console.log('3. Invariants after the load (SQL over the ownership tables)');
  const invariants = await checkInvariants(db);
  const cash = invariants.cash as Record<string, string | number | boolean>;
  const counts = (
    await db.query(`select (select count(*) from ownership.orders)::int as orders, (select count(*) from ownership.trades)::int as trades,
      (select count(*) from ownership.orders where status = 'OPEN')::int as open`)
  ).rows[0] as { orders: number; trades: number; open: number };
  const placedTotal = load.placed + (warm?.placed ?? 0);
  const tradesTotal = load.trades + (warm?.trades ?? 0);
  let booksEqual = 0;
  const bookProblems: string[] = [];
  for (const songId of songs) {
    const api = (await gql<{ orderBook: { bids: Level[]; asks: Level[] } }>(url, BOOK, { songId })).orderBook;
    const rows = (
      await db.query(
        `select side, limit_price_cents as "priceCents", sum(quantity - filled_quantity)::int as quantity, count(*)::int as orders
         from ownership.orders where song_id = $1 and status = 'OPEN' group by side, limit_price_cents`,
        [songId],
      )
    ).rows as (Level & { side: string })[];
    const fromDb = (side: string, direction: number) =>
      rows
        .filter((r) => r.side === side)
        .map(({ priceCents, quantity, orders }) => ({ priceCents, quantity, orders }))
        .sort((x, y) => direction * (x.priceCents - y.priceCents))
        .slice(0, 100);
    const same = JSON.stringify(api.bids) === JSON.stringify(fromDb('BUY', -1)) && JSON.stringify(api.asks) === JSON.stringify(fromDb('SELL', 1));
    const crossed = api.bids.length > 0 && api.asks.length > 0 && api.bids[0]!.priceCents >= api.asks[0]!.priceCents;
    if (same && !crossed) booksEqual++;
    else bookProblems.push(`${songId}: ${same ? '' : 'API book differs from the resting orders'}${crossed ? ' crossed book' : ''}`);
  }
  const checks: [string, boolean][] = [
    ['shares: offering remainder + holdings = total shares, every song', invariants.sharesOk],
    [
      `cash: deposits ${fmt(Number(cash.deposits))} + revenue ${fmt(Number(cash.revenue))} = held ${fmt(Number(cash.held))} + fees ${fmt(Number(cash.fees))}`,
      cash.conserved === true,
    ],
    [`journal transactions that do not sum to 0: ${cash.unbalanced}`, Number(cash.unbalanced) === 0],
    [`fees in trades ${fmt(Number(cash.fees))} = fees in the journal ${fmt(Number(cash.fees_journal))}`, Number(cash.fees) === Number(cash.fees_journal)],
    [`negative balances or holdings, reserved > held: ${invariants.negatives}`, invariants.negatives === 0],
    [
      `accounts whose reserved cash != their open orders': ${invariants.reservations.cash_mismatch}; holdings whose reserved shares != their open sells': ${invariants.reservations.share_mismatch}`,
      Number(invariants.reservations.cash_mismatch) === 0 && Number(invariants.reservations.share_mismatch) === 0,
    ],
    [
      `orders in the database ${fmt(counts.orders)} = accepted placeOrder answers ${fmt(placedTotal)} (warm-up included); ${fmt(counts.open)} resting`,
      counts.orders === placedTotal,
    ],
    [`trades in the database ${fmt(counts.trades)} = trades in the answers ${fmt(tradesTotal)}`, counts.trades === tradesTotal],
    [
      `orderBook (depth 100) through the gateway = the resting orders, best bid < best ask: ${booksEqual} of ${songs.length} songs`,
      booksEqual === songs.length,
    ],
  ];
  for (const [label, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${label}`);
  for (const problem of bookProblems) console.log(`       ${problem}`);

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify(
        {
          options: { ...options, cpuProf: [...options.cpuProf] },
          engine,
          warmup: warm,
          load: { ...load, requestsPerSecond, placedPerSecond, cpu },
          ownershipLoop: loop,
          deadlocks,
          rollbacks,
          sql,
          activity,
          invariants,
          checks,
        },
        null,
        2,
      ) + '\n',
    );
  }
  if (options.cpuProf.size) console.log(`CPU profiles (written as the servers exit): ${join(here, 'profiles')}`);

  const allCodes: Record<string, number> = { ...load.codes };
  for (const [code, n] of Object.entries(warm?.codes ?? {})) allCodes[code] = (allCodes[code] ?? 0) + n;
  const unexpected = Object.entries(allCodes).filter(([code]) => code !== 'OK' && !EXPECTED_CODES.has(code));
  const failures: string[] = [];
  if (unexpected.length) failures.push(`unexpected answers: ${unexpected.map(([code, n]) => `${code} ${n}`).join(', ')}`);
  if (checks.some(([, ok]) => !ok)) failures.push('an invariant does not hold');
  if (options.check) {
    if (engine && Math.min(...engine.rows.map((r) => r.ordersPerSecond)) < TARGET_ENGINE_ORDERS_PER_S) failures.push('engine target missed');
    if (placedPerSecond < TARGET_PLACE_ORDERS_PER_S) failures.push('placeOrder target missed');
  }
  for (const f of failures) console.error(`FAILED: ${f}`);
  return failures.length ? 1 : 0;
}

interface Level {
  priceCents: number;
  quantity: number;
  orders: number;
}

runBench(main);
