/**
 * Throughput of the ownership matching engine alone (subgraphs/ownership/src/domain/matching.ts):
 * no database, no GraphQL, one process, one thread.
 *
 *   node bench/market/engine.ts [--orders=N] [--warmup=N] [--rounds=N] [--sizes=100,10000] [--json=FILE]
 *
 * For each book size N the book is first filled with N resting LIMIT orders around a mid
 * price, then a stream of operations runs against it: new LIMIT orders that rest (a bid
 * below or an ask above the mid), LIMIT orders that cross (a buy up to a few ticks above the
 * best ask, a sell down to a few ticks below the best bid; their remainder rests), a few
 * MARKET orders, and cancels of random resting orders. The share of crossing orders follows
 * the book size, so the book stays around N orders. 50 accounts, so self-trade prevention
 * fires now and then. The random stream is seeded: every run does the same work.
 *
 * Also exported as `runEngineBench(options)` for bench/market/run.ts.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEFAULT_TAKER_FEE_BPS } from '@vibestream/ownership/domain/fees.ts';
import { OrderBook, type IncomingOrder, type Side } from '@vibestream/ownership/domain/matching.ts';
import { fmt, median, table } from '../lib/format.ts';
import { numberOption } from '../lib/options.ts';
import { seededRandom } from '../lib/random.ts';

export interface EngineBenchOptions {
  /** Resting-order counts to measure; default [100, 10000]. */
  bookSizes?: number[];
  /** Measured operations per book size and round; default 300,000. */
  orders?: number;
  /** Operations run before measuring, per book size and round; default 50,000. */
  warmup?: number;
  /** Rounds over all book sizes; medians are reported. Default 3. */
  rounds?: number;
  seed?: number;
  feeBps?: number;
}

export interface EngineBenchRow {
  bookSize: number;
  /** Operations measured (new orders + cancels), per round. */
  operations: number;
  /** Median over rounds: operations per second (placeOrder + cancel). */
  opsPerSecond: number;
  /** Median over rounds: new orders (LIMIT + MARKET, excluding cancels) per second. */
  ordersPerSecond: number;
  /** Median microseconds per operation. */
  microsPerOp: number;
  /** Per round, averaged: the mix. */
  newOrders: number;
  cancels: number;
  crossingOrders: number;
  fills: number;
  expired: number;
  /** Book size seen during the measured run. */
  minBook: number;
  maxBook: number;
  meanBook: number;
  roundsOpsPerSecond: number[];
}

export interface EngineBenchResult {
  rows: EngineBenchRow[];
  options: Required<EngineBenchOptions>;
}

const MID = 10_000; // cents
const ACCOUNTS = 50;

interface Counters {
  newOrders: number;
  cancels: number;
  crossing: number;
  fills: number;
  expired: number;
  minBook: number;
  maxBook: number;
  bookSum: number;
}

/** The order stream for one book size; `step(n)` runs n operations against `book`. */
function workload(target: number, seed: number, feeBps: number) {
  const random = seededRandom(seed);
  // Price band per side grows with the book, about 5 orders per level at any size.
  const band = Math.max(10, Math.round(target / 10));
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`);
  const book = new OrderBook();
  let ids: string[] = []; // ids that may still rest; pruned now and then
  let seq = 0;
  let next = 0;

  const restingPrice = (side: Side): number => {
    // Skewed toward the mid: most orders near the top of the book.
    const off = 1 + Math.floor(random() * random() * band);
    return side === 'BUY' ? MID - off : MID + off;
  };

  const rest = (): void => {
    const side: Side = random() < 0.5 ? 'BUY' : 'SELL';
    const quantity = 1 + Math.floor(random() * 10);
    const id = `o${++next}`;
    const accountId = accounts[Math.floor(random() * ACCOUNTS)]!;
    // Through match, so a price that would cross (after crossing remainders) simply trades.
    book.match({ id, accountId, side, type: 'LIMIT', quantity, limitPriceCents: restingPrice(side), seq: ++seq }, feeBps);
    ids.push(id);
  };

  const fill = (): void => {
    for (let i = 0; i < target; i++) rest();
  };

  const step = (n: number, c: Counters): void => {
    for (let i = 0; i < n; i++) {
      const size = book.size;
      if (size < c.minBook) c.minBook = size;
      if (size > c.maxBook) c.maxBook = size;
      c.bookSum += size;
      const r = random();
      if (r < 0.1 && ids.length > 0) {
        // Cancel a random order that may still rest.
        const k = Math.floor(random() * ids.length);
        const id = ids[k]!;
        ids[k] = ids[ids.length - 1]!;
        ids.pop();
        book.remove(id);
        c.cancels++;
        continue;
      }
      c.newOrders++;
      const side: Side = random() < 0.5 ? 'BUY' : 'SELL';
      // Cross more often when the book is above its target size, less when below.
      const crossShare = Math.min(0.95, Math.max(0.05, 0.45 + (4 * (size - target)) / target));
      const incoming: IncomingOrder = {
        id: `o${++next}`,
        accountId: accounts[Math.floor(random() * ACCOUNTS)]!,
        side,
        type: 'LIMIT',
        quantity: 1 + Math.floor(random() * 10),
        limitPriceCents: 0,
        budgetCents: null,
        seq: ++seq,
      };
      if (random() < crossShare) {
        c.crossing++;
        if (random() < 0.1) {
          incoming.type = 'MARKET';
          incoming.limitPriceCents = null;
          if (side === 'BUY') incoming.budgetCents = Math.floor(random() * 12 * MID);
        } else {
          const best = side === 'BUY' ? book.bestAsk() : book.bestBid();
          const ref = best === undefined ? MID : best.priceCents;
          const ticks = Math.floor(random() * 4);
          incoming.limitPriceCents = side === 'BUY' ? ref + ticks : Math.max(1, ref - ticks);
        }
      } else {
        incoming.limitPriceCents = restingPrice(side);
      }
      const result = book.match(incoming, feeBps);
      c.fills += result.fills.length;
      c.expired += result.expiredOrderIds.length;
      if (result.rested) ids.push(incoming.id);
      if (ids.length > 4 * target + 1000) ids = ids.filter((id) => book.get(id) !== undefined);
    }
  };

  return { book, fill, step };
}

const newCounters = (): Counters => ({
  newOrders: 0,
  cancels: 0,
  crossing: 0,
  fills: 0,
  expired: 0,
  minBook: Infinity,
  maxBook: 0,
  bookSum: 0,
});

/** Runs the engine benchmark and returns its figures (nothing printed). */
export function runEngineBench(options: EngineBenchOptions = {}): EngineBenchResult {
  const opts: Required<EngineBenchOptions> = {
    bookSizes: options.bookSizes ?? [100, 10_000],
    orders: options.orders ?? 300_000,
    warmup: options.warmup ?? 50_000,
    rounds: options.rounds ?? 3,
    seed: options.seed ?? 42,
    feeBps: options.feeBps ?? DEFAULT_TAKER_FEE_BPS,
  };
  const perSize = new Map<number, { rates: number[]; orderRates: number[]; micros: number[]; counters: Counters[] }>();
  for (const size of opts.bookSizes) perSize.set(size, { rates: [], orderRates: [], micros: [], counters: [] });

  for (let round = 0; round < opts.rounds; round++) {
    for (const size of opts.bookSizes) {
      const w = workload(size, opts.seed + size, opts.feeBps);
      w.fill();
      w.step(opts.warmup, newCounters());
      const c = newCounters();
      const start = process.hrtime.bigint();
      w.step(opts.orders, c);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const entry = perSize.get(size)!;
      entry.rates.push(opts.orders / seconds);
      entry.orderRates.push(c.newOrders / seconds);
      entry.micros.push((seconds * 1e6) / opts.orders);
      entry.counters.push(c);
    }
  }

  const rows: EngineBenchRow[] = opts.bookSizes.map((bookSize) => {
    const { rates, orderRates, micros, counters } = perSize.get(bookSize)!;
    const avg = (f: (c: Counters) => number) => counters.reduce((s, c) => s + f(c), 0) / counters.length;
    return {
      bookSize,
      operations: opts.orders,
      opsPerSecond: median(rates),
      ordersPerSecond: median(orderRates),
      microsPerOp: median(micros),
      newOrders: avg((c) => c.newOrders),
      cancels: avg((c) => c.cancels),
      crossingOrders: avg((c) => c.crossing),
      fills: avg((c) => c.fills),
      expired: avg((c) => c.expired),
      minBook: Math.min(...counters.map((c) => c.minBook)),
      maxBook: Math.max(...counters.map((c) => c.maxBook)),
      meanBook: avg((c) => c.bookSum / opts.orders),
      roundsOpsPerSecond: rates,
    };
  });
  return { rows, options: opts };
}

/** The result as a printable table. */
export function formatEngineBench(result: EngineBenchResult): string {
  const header = ['book (target)', 'book min/mean/max', 'ops/s', 'orders/s', 'µs/op', 'fills/op', 'crossing', 'cancels', 'self-expired/op', 'rounds ops/s'];
  const rows = result.rows.map((r) => [
    fmt(r.bookSize),
    `${fmt(r.minBook)}/${fmt(r.meanBook)}/${fmt(r.maxBook)}`,
    fmt(r.opsPerSecond),
    fmt(r.ordersPerSecond),
    fmt(r.microsPerOp, 2),
    fmt(r.fills / r.operations, 2),
    `${fmt((100 * r.crossingOrders) / r.operations)}%`,
    `${fmt((100 * r.cancels) / r.operations)}%`,
    fmt(r.expired / r.operations, 3),
    r.roundsOpsPerSecond.map((x) => fmt(x)).join(' '),
  ]);
  return table([header, ...rows]);
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      orders: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      sizes: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const sizes = (flags.sizes ?? process.env.BENCH_SIZES ?? '100,10000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('--sizes (BENCH_SIZES) must be positive integers, comma-separated');
  const options: EngineBenchOptions = {
    bookSizes: sizes,
    orders: numberOption(flags.orders, 'orders', 'BENCH_ORDERS', 300_000, 1),
    warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP_ORDERS', 50_000, 0),
    rounds: numberOption(flags.rounds, 'rounds', 'BENCH_ROUNDS', 3, 1),
  };
  console.log(
    `matching engine alone: ${fmt(options.orders!)} operations per book size and round, ${options.rounds} round(s), fee ${DEFAULT_TAKER_FEE_BPS} bps`,
  );
  const result = runEngineBench(options);
  console.log(formatEngineBench(result));
  if (flags.json) await writeFile(flags.json, JSON.stringify(result, null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
