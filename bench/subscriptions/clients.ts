/**
 * WebSocket clients of the subscriptions benchmark, run as child processes by run.ts (so
 * neither the clients' file descriptors nor their CPU are the parent's). Started with the
 * bench/lib protocol (serveChild, role `clients`); everything happens in calls:
 *
 *   open(OpenPlan)  opens every connection of the plan with graphql-ws over `ws`, at most
 *                   `concurrency` handshakes in flight, and subscribes those given a song
 *                   (after connection_ack). Answers OpenResult once every connection is
 *                   acknowledged or failed.
 *   counts          progress: Counts (what run.ts polls while it waits for deliveries)
 *   results         per measured subscriber, the receipt time of each measured event (ns of
 *                   process.hrtime, CLOCK_MONOTONIC: the same clock in every process of the
 *                   machine, so run.ts compares them with its publish times directly)
 *   loop/resetLoop  this process's event loop (LoopLog of loop.ts)
 *   close           disposes every client and waits (at most 15 s) for the sockets to close
 *
 * A measured subscriber expects, in order: any number of warm-up events (the warm-up trade),
 * then the measured events, whose trade ids cycle through `measuredTradeIds`; every message
 * must equal the trade's expected JSON. An idle connection must get no message at all.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { serveChild } from '../lib/child.ts';
import { watchLoop } from './loop.ts';

export interface ConnectionSpec {
  /** Bearer token sent in connection_init; none: anonymous. */
  token?: string;
  /** Song whose trades the connection subscribes to; none: connected only. */
  songId?: string;
  /** A measured subscriber (of the bench song); otherwise idle. */
  measured: boolean;
}

export interface OpenPlan {
  url: string;
  connections: ConnectionSpec[];
  concurrency: number;
  query: string;
  warmupTradeId: string;
  measuredTradeIds: string[];
  /** JSON.stringify of the expected `tradeExecuted` value, by trade id. */
  expected: Record<string, string>;
}

export interface OpenResult {
  opened: number;
  failed: number;
  subscribed: number;
  ms: number;
  failures: string[];
}

export interface Counts {
  /** Measured subscribers with at least one warm-up event. */
  warmedUp: number;
  /** Measured events received, all measured subscribers together. */
  measured: number;
  /** Problems so far (see Results). */
  problems: number;
  /** Connections closed before `close`. */
  closed: number;
}

export interface Results {
  /** Per measured subscriber: receipt time (ns, process.hrtime) of measured event i at index i. */
  receipts: number[][];
  /** Messages that were not the expected JSON of their trade. */
  wrongPayload: number;
  /** Measured messages whose trade id was not the one expected at that position (a lost or reordered event). */
  outOfOrder: number;
  /** Messages to idle connections. */
  idleMessages: number;
  /** GraphQL errors and sink errors. */
  errors: number;
  /** Connections closed before `close`. */
  closedEarly: number;
  examples: string[];
}

interface Connection {
  spec: ConnectionSpec;
  client: Client;
  connected: boolean;
  closed: boolean;
  warmups: number;
  receipts: number[];
}

const connections: Connection[] = [];
const loop = watchLoop();
let plan: OpenPlan | null = null;
let closing = false;
const problems = { wrongPayload: 0, outOfOrder: 0, idleMessages: 0, errors: 0 };
const examples: string[] = [];
const note = (what: string) => void (examples.length < 10 && examples.push(what.slice(0, 300)));

function onNext(connection: Connection, value: { data?: unknown; errors?: readonly unknown[] | null }): void {
  const receivedNs = Number(process.hrtime.bigint());
  const p = plan!;
  if (value.errors?.length) {
    problems.errors++;
    note(`errors: ${JSON.stringify(value.errors)}`);
    return;
  }
  const trade = (value.data as { tradeExecuted?: { id?: string } } | undefined)?.tradeExecuted;
  if (!connection.spec.measured) {
    problems.idleMessages++;
    note(`idle connection got ${JSON.stringify(value.data)}`);
    return;
  }
  const id = trade?.id ?? '';
  if (JSON.stringify(trade) !== p.expected[id]) {
    problems.wrongPayload++;
    note(`wrong payload ${JSON.stringify(value.data)}`);
  }
  if (id === p.warmupTradeId) {
    connection.warmups++;
    return;
  }
  const expectedId = p.measuredTradeIds[connection.receipts.length % p.measuredTradeIds.length];
  if (id !== expectedId) {
    problems.outOfOrder++;
    note(`measured event ${connection.receipts.length}: trade ${id}, expected ${expectedId}`);
  }
  connection.receipts.push(receivedNs);
}

/** Opens one connection; resolves with it once acknowledged, or with null when it failed. */
function openOne(spec: ConnectionSpec, failures: string[]): Promise<Connection | null> {
  const p = plan!;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok && failures.length < 10) failures.push(why ?? 'unknown');
      resolve(ok ? connection : null);
    };
    const timer = setTimeout(() => settle(false, 'no connection_ack within 30 s'), 30_000);
    const connection = { spec, connected: false, closed: false, warmups: 0, receipts: [] } as unknown as Connection;
    connections.push(connection);
    connection.client = createClient({
      url: p.url,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionAckWaitTimeout: 30_000,
      connectionParams: spec.token ? { authorization: `Bearer ${spec.token}` } : {},
      onNonLazyError: (error) => settle(false, `error: ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      on: {
        connected: () => {
          connection.connected = true;
          settle(true);
        },
        closed: (event) => {
          connection.closed = true;
          const { code, reason } = event as { code?: number; reason?: string };
          if (!closing && connection.connected) note(`closed early: ${code} ${reason}`);
          settle(false, `closed: ${code} ${reason}`);
        },
      },
    });
  });
}

function subscribe(connection: Connection): void {
  const p = plan!;
  connection.client.subscribe(
    { query: p.query, variables: { songId: connection.spec.songId } },
    {
      next: (value) => onNext(connection, value),
      error: (error) => {
        if (closing) return;
        problems.errors++;
        note(`subscription error: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
      },
      complete: () => undefined,
    },
  );
}

async function open(arg: unknown): Promise<OpenResult> {
  plan = arg as OpenPlan;
  const started = performance.now();
  const specs = plan.connections;
  const failures: string[] = [];
  let next = 0;
  let opened = 0;
  let subscribed = 0;
  await Promise.all(
    Array.from({ length: Math.min(plan.concurrency, specs.length) }, async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        const connection = await openOne(spec, failures);
        if (!connection) continue;
        opened++;
        if (spec.songId) {
          subscribe(connection);
          subscribed++;
        }
      }
    }),
  );
  return { opened, failed: specs.length - opened, subscribed, ms: performance.now() - started, failures };
}

function counts(): Counts {
  let warmedUp = 0;
  let measured = 0;
  let closed = 0;
  for (const c of connections) {
    if (c.spec.measured && c.warmups > 0) warmedUp++;
    measured += c.receipts.length;
    if (c.closed) closed++;
  }
  return { warmedUp, measured, closed, problems: problems.wrongPayload + problems.outOfOrder + problems.idleMessages + problems.errors };
}

function results(): Results {
  return {
    receipts: connections.filter((c) => c.spec.measured).map((c) => c.receipts),
    ...problems,
    closedEarly: connections.filter((c) => c.closed).length,
    examples,
  };
}

async function close(): Promise<number> {
  closing = true;
  const deadline = Date.now() + 15_000;
  for (const c of connections) void c.client.dispose();
  while (connections.some((c) => c.connected && !c.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return connections.filter((c) => c.closed).length;
}

serveChild<'clients'>(async () => ({
  url: '',
  stop: async () => void (await close()),
  calls: {
    open,
    counts,
    results,
    loop: () => loop.read(),
    resetLoop: () => loop.reset(),
    close,
  },
}));
