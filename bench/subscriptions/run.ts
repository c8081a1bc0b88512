/**
 * Subscriptions benchmark (`npm run bench:subscriptions`): live trades through the gateway to
 * 10,000 open WebSocket connections, 1,000 of them subscribed to one song's trades.
 *
 *  1. Servers: identity, catalog, ownership and our gateway, each in its own child process
 *     (server.ts); the gateway gets REDIS_URL, so live events reach it over Redis pub/sub.
 *  2. Data from the real API: an artist publishes a song and opens a share offering on it; a
 *     seller (who bought shares) and a buyer (funded by a deposit event) make three real trades.
 *  3. Connections (clients.ts, in 1-2 child processes): graphql-ws over `ws`. S subscribers, each
 *     signed in with its own user's token (minted with the run's signing key: S different
 *     users), subscribe to `tradeExecuted(songId)` selecting public fields only; the others are
 *     idle (anonymous; each subscribed to one of K other songs, which get no events).
 *  4. Events: this process publishes trade events on the Redis channel
 *     `${REDIS_PREFIX}live:tradeExecuted:<songId>` (what ownership's RedisLiveEvents publishes),
 *     with the real trades' fields. Warm-up events (the first trade) until every subscriber has
 *     one; then N measured events every I ms, then B back to back (a burst). Measured events
 *     alternate the two other trades. The resolved payload carries only the trade's fields, so an
 *     event is told by its position: subscriber s's i-th measured message is event i (each
 *     subscription delivers in order; the alternating trade ids check it).
 *
 * Latency = receipt time in a client process (in its `next` callback, after graphql-ws parsed the
 * message) - the time just before this process published the event, both from
 * process.hrtime (CLOCK_MONOTONIC, one clock for all processes of the machine).
 *
 * Printed: connections open, subscribers, events, delivery latency p50/p99/max over all
 * deliveries, messages/s delivered, supergraph lookups per event (the gateway's
 * `subscriptions.lookups()` before and after), the gateway's RSS and CPU, and the CPU of every
 * other process. Targets: p99 < 250 ms (paced events); one lookup per event per distinct
 * selection (here one selection).
 *
 * Every delivery is checked: each subscriber must receive every measured event, in order, each
 * equal to the trade as `trade(id)` answers it over HTTP; idle connections must receive nothing;
 * no errors, no connection closed early. Otherwise the run fails (exit 1).
 *
 * Options (flag or environment variable):
 *   --connections=N       BENCH_CONNECTIONS       open WebSocket connections (10000)
 *   --subscribers=N       BENCH_SUBSCRIBERS       of them subscribed to the bench song, one user each (1000)
 *   --events=N            BENCH_EVENTS            paced measured events (50)
 *   --interval=MS         BENCH_INTERVAL_MS       between paced events (150)
 *   --burst=N             BENCH_BURST             events published back to back after them (20; 0 skips)
 *   --idle-songs=N        BENCH_IDLE_SONGS        other songs the idle connections subscribe to (100; 0: connected only)
 *   --client-procs=N      BENCH_CLIENT_PROCS      client child processes (2)
 *   --open-concurrency=N  BENCH_OPEN_CONCURRENCY  handshakes in flight per client process (100)
 *   --cpu-prof            BENCH_CPU_PROF=1        profile the gateway during the measured events (profiles/)
 *   --json=FILE           BENCH_JSON              also write the results as JSON
 *   --check               BENCH_CHECK=1           exit 1 when a target is missed
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Redis, composeSupergraph, createInfra, createLogger, newEnvelope } from '@vibestream/platform';
import { freePort, mintToken } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '@vibestream/ownership';
import { startChild, type ChildServer } from '../lib/children.ts';
import { fmt, pct, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds, rssBytes, RssWatch } from '../lib/proc.ts';
import type { ConnectionSpec, Counts, OpenPlan, OpenResult, Results } from './clients.ts';
import type { LoopLog, Role } from './server.ts';
import { makeWav } from '@vibestream/catalog/testing';

const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string' },
    subscribers: { type: 'string' },
    events: { type: 'string' },
    interval: { type: 'string' },
    burst: { type: 'string' },
    'idle-songs': { type: 'string' },
    'client-procs': { type: 'string' },
    'open-concurrency': { type: 'string' },
    'cpu-prof': { type: 'boolean' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

const int = (flag: string | undefined, name: string, envName: string, fallback: number, min: number) =>
  Math.round(numberOption(flag, name, envName, fallback, min));
const options = {
  connections: int(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10_000, 1),
  subscribers: int(flags.subscribers, 'subscribers', 'BENCH_SUBSCRIBERS', 1_000, 1),
  events: int(flags.events, 'events', 'BENCH_EVENTS', 50, 1),
  intervalMs: numberOption(flags.interval, 'interval', 'BENCH_INTERVAL_MS', 150, 1),
  burst: int(flags.burst, 'burst', 'BENCH_BURST', 20, 0),
  idleSongs: int(flags['idle-songs'], 'idle-songs', 'BENCH_IDLE_SONGS', 100, 0),
  clientProcs: int(flags['client-procs'], 'client-procs', 'BENCH_CLIENT_PROCS', 2, 1),
  openConcurrency: int(flags['open-concurrency'], 'open-concurrency', 'BENCH_OPEN_CONCURRENCY', 100, 1),
  cpuProf: flags['cpu-prof'] ?? process.env.BENCH_CPU_PROF === '1',
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};
if (options.subscribers > options.connections) throw new Error('--subscribers must not exceed --connections');

const TARGET_P99_MS = 250;
/** Every subscriber sends this same document: one distinct selection. */
const SUBSCRIPTION = `subscription OnTradeExecuted($songId: ID!) { tradeExecuted(songId: $songId) { id priceCents quantity executedAt song { id title artist { name } } } }`;
const TRADE = `query Trade($id: ID!) { trade(id: $id) { id priceCents quantity executedAt song { id title artist { name } } } }`;
const DISTINCT_SELECTIONS = 1;
const SONG_TITLE = 'Live Bench Song';
const ARTIST_NAME = 'Bench Live Band';

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowNs = () => Number(process.hrtime.bigint());

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`. */
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
const mb = (bytes: number | null) => (bytes === null ? '-' : `${fmt(bytes / 1048576)} MB`);

/** CPU of some processes, of this one ("bench") and of the rest of the machine over a stretch of wall time (1 = one core). */
function cpuMeter(pids: Record<string, number>) {
  const wallStart = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const self = process.cpuUsage();
  const machine = machineBusySeconds();
  return () => {
    const wall = (performance.now() - wallStart) / 1000;
    const used: Record<string, number | null> = {};
    const seconds: Record<string, number | null> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const end = cpuSeconds(pid);
      seconds[name] = start[name] === null || end === null ? null : end - start[name]!;
      used[name] = seconds[name] === null ? null : seconds[name]! / wall;
    }
    const selfUsage = process.cpuUsage(self);
    seconds.bench = (selfUsage.user + selfUsage.system) / 1e6;
    used.bench = seconds.bench / wall;
    const machineEnd = machineBusySeconds();
    const total = machine === null || machineEnd === null ? null : (machineEnd - machine) / wall;
    used.rest = total === null ? null : Math.max(0, total - Object.values(used).reduce<number>((a, b) => a + (b ?? 0), 0));
    return { wall, cpu: used, seconds };
  };
}

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The soft limit on open files of this process (children inherit it), or null. */
function openFilesLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? (match[1] === 'unlimited' ? Infinity : Number(match[1])) : null;
  } catch {
    return null;
  }
}

function startServer(role: Role, env: NodeJS.ProcessEnv, extra: { supergraphSdl?: string; port?: number } = {}): Promise<ChildServer<Role>> {
  return startChild(join(here, 'server.ts'), { role, env, ...extra });
}

interface Trade {
  id: string;
  priceCents: number;
  quantity: number;
  executedAt: string;
  song: { id: string; title: string; artist: { name: string } };
}

/** An artist's published song with an offering, and three real trades of it (oldest first). */
async function songWithTrades(url: string, env: NodeJS.ProcessEnv, db: pg.Client): Promise<{ songId: string; trades: Trade[] }> {
  const register = async (role: 'FAN' | 'ARTIST', name: string) =>
    (
      await gql<{ register: { accessToken: string; user: { id: string } } }>(
        url,
        `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
        { input: { email: `bench-${role.toLowerCase()}-${randomBytes(6).toString('hex')}@example.com`, password: 'a-long-password', displayName: name, role } },
      )
    ).register;
  const artist = (await register('ARTIST', 'Bench Live Artist')).accessToken;
  await gql(url, `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`, { input: { name: ARTIST_NAME } }, artist);
  const songId = (
    await gql<{ createSong: { id: string } }>(
      url,
      `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
      { input: { title: SONG_TITLE, genre: 'Pop' } },
      artist,
    )
  ).createSong.id;
  const wav = makeWav(1, 4000);
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
  await until('ownership to learn the song', async () => (await db.query('select 1 from ownership.songs where song_id = $1', [songId])).rowCount === 1);
  const offeringId = (
    await gql<{ createShareOffering: { id: string } }>(
      url,
      `mutation($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id } }`,
      { input: { songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 100 } },
      artist,
    )
  ).createShareOffering.id;

  const seller = await register('FAN', 'Bench Seller');
  const buyer = await register('FAN', 'Bench Buyer');
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log: createLogger('bench', 'silent') });
  try {
    for (const fan of [seller, buyer]) {
      await infra.transport.append(
        newEnvelope('payments', 'payments.deposit.succeeded.v1', {
          depositId: randomUUID(),
          userId: fan.user.id,
          amountCents: 100_000,
          method: 'CARD',
          succeededAt: new Date().toISOString(),
        }),
      );
    }
  } finally {
    await infra.close();
  }
  await until('ownership to credit the deposits', async () => Number((await db.query('select count(*) from ownership.deposits')).rows[0].count) === 2);
  await gql(
    url,
    `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity } }`,
    { offeringId, quantity: 10 },
    seller.accessToken,
  );
  const place = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status } trades { id } } }`;
  type Placed = { placeOrder: { order: { id: string; status: string }; trades: { id: string }[] } };
  await gql<Placed>(url, place, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 3, limitPriceCents: 120 } }, seller.accessToken);
  const tradeIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const placed = await gql<Placed>(url, place, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: 120 } }, buyer.accessToken);
    tradeIds.push(...placed.placeOrder.trades.map((t) => t.id));
  }
  if (tradeIds.length !== 3) throw new Error(`expected 3 trades, got ${tradeIds.length}`);
  const trades: Trade[] = [];
  for (const id of tradeIds) {
    const { trade } = await gql<{ trade: Trade | null }>(url, TRADE, { id });
    if (!trade) throw new Error(`trade(id: ${id}) answered null`);
    trades.push(trade);
  }
  return { songId, trades };
}

interface PhaseResult {
  label: string;
  events: number;
  deliveries: number;
  expectedDeliveries: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Per event: publish -> first subscriber's receipt (the lookup and the first send), p50 and max. */
  firstP50: number;
  firstMax: number;
  /** Per event: first -> last subscriber's receipt (the fan-out), p50 and max. */
  spreadP50: number;
  spreadMax: number;
  /** Deliveries / (last receipt - first publish). */
  messagesPerSecond: number;
  seconds: number;
  lookups: number;
  cpu: Record<string, number | null>;
  cpuSeconds: Record<string, number | null>;
  gatewayLoop: LoopLog;
  clientLoops: LoopLog[];
  gatewayPeakRss: number;
}

/** Latency figures of events [from, from + count) given each subscriber's receipts and the publish times. */
function latencies(receipts: number[][], publishedNs: number[], from: number, count: number) {
  const all: number[] = [];
  const first = new Array<number>(count).fill(Infinity);
  const last = new Array<number>(count).fill(-Infinity);
  let lastReceipt = -Infinity;
  for (const r of receipts) {
    for (let k = 0; k < count; k++) {
      const t = r[from + k];
      if (t === undefined) continue;
      all.push((t - publishedNs[from + k]!) / 1e6);
      first[k] = Math.min(first[k]!, t);
      last[k] = Math.max(last[k]!, t);
      lastReceipt = Math.max(lastReceipt, t);
    }
  }
  all.sort((a, b) => a - b);
  const firsts = first.map((t, k) => (t - publishedNs[from + k]!) / 1e6).sort((a, b) => a - b);
  const spreads = first.map((t, k) => (last[k]! - t) / 1e6).sort((a, b) => a - b);
  const seconds = (lastReceipt - publishedNs[from]!) / 1e9;
  return {
    deliveries: all.length,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.at(-1) ?? NaN,
    mean: all.reduce((a, b) => a + b, 0) / Math.max(1, all.length),
    firstP50: percentile(firsts, 50),
    firstMax: firsts.at(-1) ?? NaN,
    spreadP50: percentile(spreads, 50),
    spreadMax: spreads.at(-1) ?? NaN,
    seconds,
    messagesPerSecond: all.length / seconds,
  };
}

async function main(): Promise<number> {
  const limit = openFilesLimit();
  const busyBefore = machineBusySeconds();
  await sleep(1000);
  const busyAfter = machineBusySeconds();
  console.log(
    `subscriptions bench: node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}; machine busy ${busyBefore === null || busyAfter === null ? '-' : pct(busyAfter - busyBefore)} of one core over the second before the start; open files limit ${limit ?? '?'}`,
  );
  const perClientProc = Math.ceil(options.connections / options.clientProcs);
  if (limit !== null && (options.connections + 1000 > limit || perClientProc + 1000 > limit)) {
    throw new Error(
      `the gateway needs ${options.connections} + ~1000 open files and each client process ${perClientProc} + ~1000, the limit is ${limit}: raise it (ulimit -n) or open fewer connections`,
    );
  }

  // ------------------------------------------------------------------ servers and data
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-subs-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const gatewayPort = await freePort();
  const { env, keys, database } = await benchEnv('benchsubs', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
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
  const { songId, trades } = await songWithTrades(url, env, db);
  const [warmupTrade, ...measuredTrades] = trades as [Trade, Trade, Trade];
  console.log('');
  console.log(
    `setup: servers ${fmt(serversSeconds, 1)} s; "${SONG_TITLE}" by "${ARTIST_NAME}" on the market with ${trades.length} real trades ` +
      `(warm-up ${warmupTrade.id.slice(0, 8)}, measured ${measuredTrades.map((t) => t.id.slice(0, 8)).join(' and ')} in turn); ${fmt((performance.now() - setupStarted) / 1000, 1)} s in all`,
  );

  // ------------------------------------------------------------------ connections
  const tokens = await Promise.all(Array.from({ length: options.subscribers }, () => mintToken(keys, { userId: randomUUID(), expiresIn: 3600 })));
  const otherSongs = Array.from({ length: options.idleSongs }, () => randomUUID());
  const specs: ConnectionSpec[] = Array.from({ length: options.connections }, (_, i) =>
    i < options.subscribers
      ? { token: tokens[i]!, songId, measured: true }
      : { ...(otherSongs.length ? { songId: otherSongs[i % otherSongs.length]! } : {}), measured: false },
  );
  const wsUrl = url.replace(/^http/, 'ws');
  const expected = Object.fromEntries(trades.map((t) => [t.id, JSON.stringify(t)]));
  const gatewayRssBefore = rssBytes(gateway.pid);
  const opening = performance.now();
  const clients = await Promise.all(
    Array.from({ length: options.clientProcs }, () => startChild<'clients'>(join(here, 'clients.ts'), { role: 'clients', env: { LOG_LEVEL: 'warn' } })),
  );
  const opened = await Promise.all(
    clients.map((c, p) =>
      c.call<OpenResult>('open', {
        url: wsUrl,
        connections: specs.filter((_, i) => i % options.clientProcs === p),
        concurrency: options.openConcurrency,
        query: SUBSCRIPTION,
        warmupTradeId: warmupTrade.id,
        measuredTradeIds: measuredTrades.map((t) => t.id),
        expected,
      } satisfies OpenPlan),
    ),
  );
  const openSeconds = (performance.now() - opening) / 1000;
  const openCount = opened.reduce((n, o) => n + o.opened, 0);
  const failedCount = opened.reduce((n, o) => n + o.failed, 0);
  const gatewayConnections = await gateway.call<number>('connections');
  console.log('');
  console.log(
    `connections: ${fmt(openCount)} of ${fmt(options.connections)} open in ${fmt(openSeconds, 1)} s (${options.clientProcs} client processes, up to ${options.openConcurrency} handshakes in flight each), ` +
      `${fmt(failedCount)} failed; the gateway counts ${fmt(gatewayConnections)}`,
  );
  for (const f of opened.flatMap((o) => o.failures).slice(0, 5)) console.log(`  e.g. ${f}`);
  if (failedCount > 0) throw new Error(`${failedCount} connections failed to open`);
  console.log(
    `  ${fmt(options.subscribers)} subscribers to tradeExecuted(songId) of the song, signed in as ${fmt(new Set(tokens).size)} different users; ` +
      `${fmt(options.connections - options.subscribers)} idle, anonymous, ${options.idleSongs ? `each subscribed to tradeExecuted of one of ${options.idleSongs} other songs (no events)` : 'not subscribed'}`,
  );
  console.log(`  selection: ${SUBSCRIPTION.replace(/^.*?\{ tradeExecuted\(songId: \$songId\) /, '').replace(/ \}$/, '')} (all public)`);

  // ------------------------------------------------------------------ warm-up and settle
  const redis = new Redis(env.REDIS_URL!);
  onCleanup(() => void redis.disconnect());
  const channel = `${env.REDIS_PREFIX}live:tradeExecuted:${songId}`;
  const payloadOf = (trade: Trade, seq: number, publishedNs: number) =>
    JSON.stringify({
      id: trade.id,
      songId,
      priceCents: trade.priceCents,
      quantity: trade.quantity,
      executedAt: trade.executedAt,
      benchSeq: seq,
      benchPublishedNs: publishedNs,
    });
  const counts = async (): Promise<Counts> => {
    const all = await Promise.all(clients.map((c) => c.call<Counts>('counts')));
    return all.reduce((a, b) => ({
      warmedUp: a.warmedUp + b.warmedUp,
      measured: a.measured + b.measured,
      problems: a.problems + b.problems,
      closed: a.closed + b.closed,
    }));
  };
  const warming = performance.now();
  let warmups = 0;
  await until(
    'every subscriber to get a warm-up event',
    async () => {
      if ((await counts()).warmedUp === options.subscribers) return true;
      await redis.publish(channel, payloadOf(warmupTrade, -1, nowNs()));
      warmups++;
      return false;
    },
    60_000,
    300,
  );
  // Let the gateway finish whatever the connections and warm-ups left (its CPU under 10% for 0.5 s).
  const settleStarted = performance.now();
  for (;;) {
    const before = cpuSeconds(gateway.pid);
    await sleep(500);
    const used = (cpuSeconds(gateway.pid) ?? 0) - (before ?? 0);
    if (used / 0.5 < 0.1 || performance.now() - settleStarted > 15_000) break;
  }
  const pids: Record<string, number> = { gateway: gateway.pid, ownership: ownership.pid, catalog: catalog.pid, identity: identity.pid };
  clients.forEach((c, i) => (pids[`clients${clients.length > 1 ? i + 1 : ''}`] = c.pid));
  const idleMeter = cpuMeter(pids);
  await sleep(2000);
  const idle = idleMeter();
  const gatewayRssConnected = rssBytes(gateway.pid);
  console.log(
    `warm-up: ${warmups} event(s) until all ${fmt(options.subscribers)} subscribers had one (${fmt((performance.now() - warming) / 1000, 1)} s), then ${fmt((performance.now() - settleStarted) / 1000, 1)} s settling; ` +
      `idle for 2 s with every connection open: gateway CPU ${pct(idle.cpu.gateway ?? null)}`,
  );
  console.log(
    `gateway RSS: ${mb(gatewayRssBefore)} before the connections, ${mb(gatewayRssConnected)} with them ` +
      `(${gatewayRssBefore !== null && gatewayRssConnected !== null ? fmt((gatewayRssConnected - gatewayRssBefore) / 1024 / options.connections, 1) : '-'} KB per connection)`,
  );

  // ------------------------------------------------------------------ measured events
  const publishedNs: number[] = [];
  const profileDir = join(here, 'profiles');
  const profiles: string[] = [];
  if (options.cpuProf) mkdirSync(profileDir, { recursive: true });

  async function phase(label: string, count: number, publish: (from: number) => Promise<void>): Promise<PhaseResult> {
    const from = publishedNs.length;
    await Promise.all([gateway.call('resetLoop'), ...clients.map((c) => c.call('resetLoop'))]);
    if (options.cpuProf) await gateway.call('profileStart');
    const lookupsBefore = await gateway.call<number>('lookups');
    const rss = new RssWatch([gateway.pid], 20);
    const meter = cpuMeter(pids);
    await publish(from);
    const expectedTotal = (from + count) * options.subscribers;
    try {
      await until(`${label}: every delivery`, async () => (await counts()).measured >= expectedTotal, 20_000, 50);
    } catch {
      // Reported below as missing deliveries.
    }
    const { cpu, seconds } = meter();
    const peak = rss.stop().get(gateway.pid)!.peakBytes;
    const lookups = (await gateway.call<number>('lookups')) - lookupsBefore;
    const gatewayLoop = await gateway.call<LoopLog>('loop');
    const clientLoops = await Promise.all(clients.map((c) => c.call<LoopLog>('loop')));
    if (options.cpuProf) profiles.push(await gateway.call<string>('profileStop', join(profileDir, `gateway-${label.split(',')[0]}-${Date.now()}.cpuprofile`)));
    const receipts = (await Promise.all(clients.map((c) => c.call<Results>('results')))).flatMap((r) => r.receipts);
    const figures = latencies(receipts, publishedNs, from, count);
    return {
      label,
      events: count,
      expectedDeliveries: count * options.subscribers,
      lookups,
      cpu,
      cpuSeconds: seconds,
      gatewayLoop,
      clientLoops,
      gatewayPeakRss: peak,
      ...figures,
    };
  }

  const phases: PhaseResult[] = [];
  phases.push(
    await phase(`paced, one every ${fmt(options.intervalMs)} ms`, options.events, async (from) => {
      const start = performance.now();
      for (let k = 0; k < options.events; k++) {
        const wait = start + k * options.intervalMs - performance.now();
        if (wait > 0) await sleep(wait);
        const t = nowNs();
        publishedNs[from + k] = t;
        await redis.publish(channel, payloadOf(measuredTrades[(from + k) % 2]!, from + k, t));
      }
    }),
  );
  if (options.burst > 0) {
    await sleep(1000);
    phases.push(
      await phase('burst, back to back', options.burst, async (from) => {
        const sent: Promise<unknown>[] = [];
        for (let k = 0; k < options.burst; k++) {
          const t = nowNs();
          publishedNs[from + k] = t;
          sent.push(redis.publish(channel, payloadOf(measuredTrades[(from + k) % 2]!, from + k, t)));
        }
        await Promise.all(sent);
      }),
    );
  }
  const final = (await Promise.all(clients.map((c) => c.call<Results>('results')))).reduce((a, b) => ({
    ...a,
    wrongPayload: a.wrongPayload + b.wrongPayload,
    outOfOrder: a.outOfOrder + b.outOfOrder,
    idleMessages: a.idleMessages + b.idleMessages,
    errors: a.errors + b.errors,
    closedEarly: a.closedEarly + b.closedEarly,
    examples: [...a.examples, ...b.examples],
  }));
  const gatewayConnectionsAfter = await gateway.call<number>('connections');

  // ------------------------------------------------------------------ report
  console.log('');
  console.log(
    `Delivery of tradeExecuted to ${fmt(options.subscribers)} subscribers among ${fmt(openCount)} open connections ` +
      `(latency = receipt in a client process - publish to Redis, all deliveries; messages/s = deliveries / (last receipt - first publish))`,
  );
  console.log(
    table([
      [
        'events',
        'count',
        'deliveries',
        'p50 ms',
        'p99 ms',
        'max ms',
        'mean ms',
        'first p50/max ms',
        'fan-out p50/max ms',
        'messages/s',
        'lookups',
        'lookups/event',
      ],
      ...phases.map((r) => [
        r.label,
        fmt(r.events),
        `${fmt(r.deliveries)}/${fmt(r.expectedDeliveries)}`,
        fmt(r.p50, 1),
        fmt(r.p99, 1),
        fmt(r.max, 1),
        fmt(r.mean, 1),
        `${fmt(r.firstP50, 1)}/${fmt(r.firstMax, 1)}`,
        `${fmt(r.spreadP50, 1)}/${fmt(r.spreadMax, 1)}`,
        fmt(r.messagesPerSecond),
        fmt(r.lookups),
        fmt(r.lookups / r.events, 2),
      ]),
    ]),
  );
  console.log(
    '("first" = publish -> the first subscriber\'s receipt of an event: the lookup through the supergraph and the first send; "fan-out" = first -> last subscriber\'s receipt of it)',
  );
  const paced = phases[0]!;
  const lookupsPerEvent = paced.lookups / paced.events;
  console.log(`target p99 < ${TARGET_P99_MS} ms (paced events): ${paced.p99 < TARGET_P99_MS ? 'met' : 'MISSED'} (${fmt(paced.p99, 1)} ms)`);
  console.log(
    `target one lookup per event per distinct selection (${DISTINCT_SELECTIONS} selection, ${fmt(options.subscribers)} users): ` +
      `${phases.every((r) => r.lookups === r.events * DISTINCT_SELECTIONS) ? 'met' : 'MISSED'} (${phases.map((r) => fmt(r.lookups / r.events, 2)).join(', ')} per event)`,
  );
  console.log('');
  console.log("CPU per wall second (100% = one of the 2 cores), and the gateway's CPU time per event and per delivered message:");
  const names = Object.keys(phases[0]!.cpu);
  console.log(
    table([
      ['events', ...names, 'gateway ms/event', 'gateway µs/message'],
      ['(idle, 2 s, connections open)', ...names.map((n) => pct(idle.cpu[n] ?? null)), '', ''],
      ...phases.map((r) => [
        r.label,
        ...names.map((n) => pct(r.cpu[n] ?? null)),
        fmt(((r.cpuSeconds.gateway ?? NaN) * 1000) / r.events, 1),
        fmt(((r.cpuSeconds.gateway ?? NaN) * 1e6) / Math.max(1, r.deliveries), 1),
      ]),
    ]),
  );
  console.log('(bench = this process, the publisher; clients = the WebSocket clients; rest = PostgreSQL, Redis and anything else running)');
  for (const r of phases) {
    console.log(
      `${r.label}: gateway event loop ${pct(r.gatewayLoop.utilization)} busy, timers late by p50 ${fmt(r.gatewayLoop.delayP50, 1)} ms, p99 ${fmt(r.gatewayLoop.delayP99, 1)} ms, max ${fmt(r.gatewayLoop.delayMax, 1)} ms; ` +
        `client loops ${r.clientLoops.map((l) => `${pct(l.utilization)} busy, max late ${fmt(l.delayMax, 1)} ms`).join('; ')}; gateway RSS peak ${mb(r.gatewayPeakRss)}`,
    );
  }
  console.log(
    `gateway RSS: ${mb(gatewayRssBefore)} before the connections, ${mb(gatewayRssConnected)} with ${fmt(openCount)} open, peak ${mb(Math.max(...phases.map((r) => r.gatewayPeakRss)))} during the events`,
  );
  if (profiles.length) {
    console.log(`gateway CPU profiles: ${profiles.join(', ')}`);
    console.log(`  node bench/tools/cpuprofile-summary.ts ${profiles[0]} --match='gateway/src|graphql-ws'`);
  }

  const checks: [string, boolean][] = [
    [
      `every measured event delivered to every subscriber: ${phases.map((r) => `${fmt(r.deliveries)}/${fmt(r.expectedDeliveries)}`).join(', ')}`,
      phases.every((r) => r.deliveries === r.expectedDeliveries),
    ],
    [`payloads equal to trade(id) over HTTP: ${fmt(final.wrongPayload)} wrong`, final.wrongPayload === 0],
    [`events in publish order (trade ids alternate): ${fmt(final.outOfOrder)} out of place`, final.outOfOrder === 0],
    [`messages to idle connections: ${fmt(final.idleMessages)}`, final.idleMessages === 0],
    [
      `errors: ${fmt(final.errors)}; connections closed early: ${fmt(final.closedEarly)}; the gateway counts ${fmt(gatewayConnectionsAfter)} open`,
      final.errors === 0 && final.closedEarly === 0 && gatewayConnectionsAfter === openCount,
    ],
  ];
  console.log('');
  for (const [label, ok] of checks) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${label}`);
  for (const e of final.examples.slice(0, 5)) console.log(`       e.g. ${e}`);

  const closing = performance.now();
  const closed = await Promise.all(clients.map((c) => c.call<number>('close')));
  console.log('');
  console.log(`closed ${fmt(closed.reduce((a, b) => a + b, 0))} connections in ${fmt((performance.now() - closing) / 1000, 1)} s`);

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify(
        {
          options,
          connections: { open: openCount, failed: failedCount, seconds: openSeconds, gatewayCount: gatewayConnections },
          gatewayRss: { before: gatewayRssBefore, connected: gatewayRssConnected },
          idleCpu: idle.cpu,
          phases,
          lookupsPerEvent,
          checks,
        },
        null,
        2,
      ) + '\n',
    );
  }

  const failures = checks.filter(([, ok]) => !ok).map(([label]) => label);
  if (options.check) {
    if (paced.p99 >= TARGET_P99_MS) failures.push(`p99 ${fmt(paced.p99, 1)} ms >= ${TARGET_P99_MS} ms`);
    if (!phases.every((r) => r.lookups === r.events * DISTINCT_SELECTIONS)) failures.push('more than one lookup per event per distinct selection');
  }
  for (const f of failures) console.error(`FAILED: ${f}`);
  return failures.length ? 1 : 0;
}

runBench(main);
