/**
 * Projection-lag benchmark (`npm run bench:events`): how long after an event commits its consumers
 * have projected it, on the in-process bus (no REDIS_URL, as `npm start` runs) and on Redis Streams.
 *
 * For each bus, in this one process as `npm start` runs them: the real rewards, ownership and
 * campaigns subgraphs (their consumers and handlers) on one shared infra, and a producer with
 * catalog's outbox and relay (its own schema, the platform's OutboxRelay at its usual 250 ms
 * interval). One event at a time, `--interval` apart so the relay is at rest between them, the
 * producer records a catalog.song.published.v1 in a transaction as catalog's publishSong does,
 * kicks the relay after the commit as every use case does, and waits until each consumer has
 * projected it. Lag = the consumer's commit signal (the one read-your-writes waits are woken by,
 * sent right after its transaction committed; kept in this process on both buses, so no pub/sub
 * hop is counted) - the producer's commit.
 * Printed per bus and consumer: p50, p99, max; "all" is the lag until the last of the three; and
 * the CPU per wall second of this process (the relay, the consumers) and of the rest of the machine
 * (PostgreSQL, Redis, anything else) while the events ran: a busy "rest" means other work shared
 * the 2 cores and stretched every round trip. Target: p99 < 50 ms on Redis.
 *
 * Options (flag or environment variable):
 *   --events=N       BENCH_EVENTS       measured events per bus (300)
 *   --warmup=N       BENCH_WARMUP       events before them, not counted (30)
 *   --interval=MS    BENCH_INTERVAL_MS  between two events (40)
 *   --json=FILE      BENCH_JSON         also write the results as JSON
 *   --check          BENCH_CHECK=1      exit 1 when the Redis p99 is 50 ms or more
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  MemoryLiveEvents,
  OutboxRelay,
  createInfra,
  createLogger,
  openDatabase,
  projectionTopic,
  openPersistence,
  type RunningSubgraph,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/catalog/events';
import { campaignsSubgraph } from '@vibestream/campaigns';
import { ownershipSubgraph } from '@vibestream/ownership';
import { rewardsSubgraph } from '@vibestream/rewards';
import { fmt, pct, table } from '../lib/format.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string' },
    warmup: { type: 'string' },
    interval: { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});
const events = numberOption(flags.events, 'events', 'BENCH_EVENTS', 300, 1);
const warmup = numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 30, 0);
const intervalMs = numberOption(flags.interval, 'interval', 'BENCH_INTERVAL_MS', 40, 0);
const jsonFile = flags.json ?? process.env.BENCH_JSON;
const check = flags.check ?? process.env.BENCH_CHECK === '1';
const targetP99Ms = 50;

const consumers = [rewardsSubgraph, ownershipSubgraph, campaignsSubgraph];
const buses = [
  { bus: 'in-process', redis: false },
  { bus: 'Redis Streams', redis: true },
] as const;

type Lags = Record<string, number[]>;

/** CPU per wall second of this process and of the rest of the machine while `work` ran. */
async function withCpu<T>(work: () => Promise<T>): Promise<{ value: T; bench: number | null; rest: number | null }> {
  const [cpu0, busy0, t0] = [cpuSeconds(process.pid), machineBusySeconds(), performance.now()];
  const value = await work();
  const wall = (performance.now() - t0) / 1000;
  const [cpu1, busy1] = [cpuSeconds(process.pid), machineBusySeconds()];
  const bench = cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null;
  const rest = bench !== null && busy0 !== null && busy1 !== null ? (busy1 - busy0) / wall - bench : null;
  return { value, bench, rest };
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function measureBus(env: NodeJS.ProcessEnv, redis: boolean) {
  const log = createLogger('bench-events', env.LOG_LEVEL);
  // Live events in memory whatever the bus: the commit signals are read where they are sent.
  const infra = { ...createInfra({ redisUrl: redis ? env.REDIS_URL : undefined, prefix: env.REDIS_PREFIX!, log }), live: new MemoryLiveEvents() };
  const running: RunningSubgraph[] = [];
  for (const module of consumers) running.push(await module.start({ env, port: 0, infra, log }));
  infra.transport.consumersStarted?.();
  const producer = await openDatabase({ url: env.DATABASE_URL!, schema: 'bench_producer', entities: [], migrations: [], log });
  const producerDb = openPersistence(producer, { source: 'catalog' });
  const relay = new OutboxRelay(producer, infra.transport, log, { intervalMs: 250 });
  relay.start();

  // songId -> the consumers still to project it, and when each did.
  const waiting = new Map<string, { left: Set<string>; at: Record<string, number>; done: () => void }>();
  const unsubscribe: (() => Promise<void>)[] = [];
  for (const { name } of consumers) {
    unsubscribe.push(
      await infra.live.subscribe(projectionTopic(name), (signal) => {
        const entry = waiting.get(String(signal.key));
        if (!entry?.left.delete(name)) return;
        entry.at[name] = performance.now();
        if (entry.left.size === 0) entry.done();
      }),
    );
  }

  const lags: Lags = Object.fromEntries([...consumers.map((c) => c.name), 'all'].map((k) => [k, []]));
  const publishOne = async (i: number) => {
    const songId = randomUUID();
    let done!: () => void;
    const projected = new Promise<void>((resolve) => (done = resolve));
    const entry = { left: new Set(consumers.map((c) => c.name)), at: {} as Record<string, number>, done };
    waiting.set(songId, entry);
    await producerDb.useCase(async (tx) => {
      tx.outbox.record(SongPublished, {
        songId,
        artistId: randomUUID(),
        artistUserId: randomUUID(),
        title: `Lag ${i}`,
        genre: 'Bench',
        durationSeconds: 180,
        publishedAt: new Date().toISOString(),
      });
    });
    const committedAt = performance.now();
    relay.kick();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`event ${i} not projected by ${[...entry.left].join(', ')} within 10 s`)), 10_000)),
    );
    await Promise.race([projected, timedOut]).finally(() => clearTimeout(timer));
    waiting.delete(songId);
    if (i >= warmup) {
      for (const { name } of consumers) lags[name]!.push(entry.at[name]! - committedAt);
      lags.all!.push(Math.max(...Object.values(entry.at)) - committedAt);
    }
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  };
  try {
    for (let i = 0; i < warmup; i++) await publishOne(i);
    const { bench, rest } = await withCpu(async () => {
      for (let i = warmup; i < warmup + events; i++) await publishOne(i);
    });
    return { lags, bench, rest };
  } finally {
    for (const off of unsubscribe) await off();
    await relay.stop();
    for (const subgraph of running.reverse()) await subgraph.stop();
    await infra.close();
    await producer.close();
  }
}

async function main(): Promise<number> {
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-events-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const { env } = await benchEnv('events', { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', MEDIA_DIR: mediaDir, VERIFIER_THREADS: '1' });
  console.log(
    `Projection lag, event committed -> projected: ${events} events per bus (after ${warmup} not counted), one every ${intervalMs} ms, relay at rest`,
  );
  const rows = [['bus', 'consumer', 'p50 ms', 'p99 ms', 'max ms', 'bench CPU', 'rest CPU']];
  const results: Record<string, Record<string, { p50: number; p99: number; max: number }>> = {};
  for (const { bus, redis } of buses) {
    const { lags, bench, rest } = await measureBus(env, redis);
    results[bus] = {};
    for (const [consumer, xs] of Object.entries(lags)) {
      const figures = { p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) };
      results[bus][consumer] = figures;
      const cpu = consumer === 'all' ? [pct(bench), pct(rest)] : ['', ''];
      rows.push([bus, consumer, fmt(figures.p50, 1), fmt(figures.p99, 1), fmt(figures.max, 1), ...cpu]);
    }
  }
  console.log(table(rows));
  const redisP99 = results['Redis Streams']!.all!.p99;
  console.log(`\nTarget: p99 (all) < ${targetP99Ms} ms on Redis: ${fmt(redisP99, 1)} ms, ${redisP99 < targetP99Ms ? 'met' : 'MISSED'}`);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ events, warmup, intervalMs, results }, null, 2));
  return check && redisP99 >= targetP99Ms ? 1 : 0;
}

runBench(main);
