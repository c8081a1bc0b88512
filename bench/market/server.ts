/**
 * One server of the market benchmark, run as its own child process by run.ts: the identity,
 * catalog or ownership subgraph, or our gateway. The protocol with run.ts is bench/lib
 * (protocol.ts; serveChild in child.ts).
 *
 * The ownership process counts and times the SQL statements it sends to PostgreSQL: every
 * `query` of node-postgres's Client (the driver under MikroORM), so `begin`, `commit` and the
 * outbox relay's statements count too. A statement's time is its round trip as the process sees
 * it (PostgreSQL's work, waiting for a lock, and the delay before the process gets to the
 * answer). run.ts reads it with the calls `sql` and `resetSql`.
 */
import { monitorEventLoopDelay, performance as perf, type EventLoopUtilization } from 'node:perf_hooks';
import pg from 'pg';
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startGatewayRole, startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'identity' | 'catalog' | 'ownership' | 'gateway';

/** What the `loop` call answers: the event loop since `resetLoop`. */
export interface LoopLog {
  /** Share of the time the event loop was busy (0..1). */
  utilization: number;
  /** How late timers ran (ms): how long a ready callback, e.g. a SQL answer, waited for the loop. */
  delayP50: number;
  delayP99: number;
  delayMax: number;
}

function watchLoop() {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let since: EventLoopUtilization = perf.eventLoopUtilization();
  return {
    read: (): LoopLog => ({
      utilization: perf.eventLoopUtilization(since).utilization,
      delayP50: delay.percentile(50) / 1e6,
      delayP99: delay.percentile(99) / 1e6,
      delayMax: delay.max / 1e6,
    }),
    reset: () => {
      delay.reset();
      since = perf.eventLoopUtilization();
    },
  };
}

/** What the `sql` call answers: all statements since the last reset, and per statement shape (literals as ?) count and round-trip time. */
export interface SqlLog {
  count: number;
  /** Summed round trips, ms. */
  ms: number;
  /** Statements kept for `statements` (all, unless more than a million). */
  kept: number;
  statements: { sql: string; count: number; ms: number; maxMs: number }[];
}

/** Up to this many statements are kept for the `sql` call between resets; beyond it they are only counted. */
const KEEP = 1_000_000;

/**
 * Wraps node-postgres's Client#query. MikroORM inlines parameters into the SQL text, so the texts
 * are grouped (literals replaced by ?) only when read, not on the request's path.
 */
function countStatements() {
  let texts: string[] = [];
  let times: number[] = [];
  let count = 0;
  let ms = 0;
  type Query = (this: pg.Client, ...args: unknown[]) => unknown;
  const proto = pg.Client.prototype as unknown as { query: Query };
  const original = proto.query;
  proto.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : (first?.text ?? '(no text)');
    count++;
    const kept = times;
    const index = texts.length < KEEP ? texts.push(text) - 1 : -1;
    if (index >= 0) kept.push(0);
    const started = performance.now();
    const result = original.apply(this, args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      const done = () => {
        const took = performance.now() - started;
        ms += took;
        if (index >= 0) kept[index] = took;
      };
      (result as Promise<unknown>).then(done, done);
    }
    return result;
  };
  return {
    read: (): SqlLog => {
      const byKey = new Map<string, { sql: string; count: number; ms: number; maxMs: number }>();
      texts.forEach((text, i) => {
        const key = normalize(text);
        const e = byKey.get(key) ?? { sql: key, count: 0, ms: 0, maxMs: 0 };
        e.count++;
        e.ms += times[i]!;
        e.maxMs = Math.max(e.maxMs, times[i]!);
        byKey.set(key, e);
      });
      return { count, ms, kept: texts.length, statements: [...byKey.values()] };
    },
    reset: () => {
      texts = [];
      times = [];
      count = 0;
      ms = 0;
    },
  };
}

/** One key per statement shape: literals as ?, repeated value tuples once, whitespace collapsed. */
function normalize(text: string): string {
  return text
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/(?<![\w"$])-?\d+(?:\.\d+)?(?![\w"])/g, '?')
    .replace(/\s+/g, ' ')
    .replace(/(\((?:\?, )*\?\))(?:, \((?:\?, )*\?\))+/g, '$1, ...')
    .replace(/in \((?:\?, )+\?\)/g, 'in (?, ...)')
    .trim()
    .slice(0, 200);
}

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'identity':
      return startSubgraphRole('identity', { env });
    case 'catalog':
      return startSubgraphRole('catalog', { env });
    case 'ownership': {
      const counter = countStatements();
      const loop = watchLoop();
      const running = await startSubgraphRole('ownership', { env, port: 0 });
      return {
        url: running.url,
        stop: running.stop,
        calls: {
          sql: () => counter.read(),
          resetSql: () => counter.reset(),
          loop: () => loop.read(),
          resetLoop: () => loop.reset(),
        },
      };
    }
    case 'gateway':
      return startGatewayRole(message);
  }
}

serveChild(startRole);
