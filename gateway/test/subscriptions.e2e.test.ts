import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '@vibestream/platform';
import { mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { startGateway, type RunningGateway } from '../src/index.ts';
import { BUY_OFFERING, OFFER, PLACE, deposit, signUp, songOnMarket } from '@vibestream/ownership/testing';
import { listenAndComplete, publishSong, terminateSnarkjs } from '@vibestream/rewards/testing';

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;
let second: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-subs-'));
  const modules = [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph];
  stack = await startTestStack('subscriptions', modules, { MEDIA_DIR: mediaDir, MIN_LISTEN_SECONDS: '1' });
  db = stack.db;
  // A second gateway process: its own Redis connection, the same supergraph.
  const { supergraph } = composeSupergraph(modules, (m) => stack.subgraphs.get(m.name)!.url);
  second = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: supergraph, port: 0, log: stack.log });
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await second?.stop();
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');

interface Subscription<T> {
  events: T[];
  errors: unknown[];
  closed: Promise<{ code: number; reason: string }>;
  ready: Promise<void>;
}

function subscribe<T>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Subscription<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  let onClosed!: (v: { code: number; reason: string }) => void;
  let onReady!: () => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClosed = r));
  const ready = new Promise<void>((r) => (onReady = r));
  const client = createClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: {
      connected: () => setTimeout(onReady, 150),
      closed: (event) => onClosed({ code: (event as { code: number }).code, reason: String((event as { reason: string }).reason) }),
    },
  });
  clients.push(client);
  client.subscribe<T>(
    { query, variables },
    { next: (v) => (v.errors ? errors.push(...v.errors) : events.push(v.data as T)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { events, errors, closed, ready };
}

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

const TRADES = `subscription OnTradeExecuted($songId: ID!) { tradeExecuted(songId: $songId) { id priceCents quantity executedAt song { id title artist { name } } } }`;
const BOOKS = `subscription OnOrderBookUpdated($songId: ID!) { orderBookUpdated(songId: $songId) { songId bids { priceCents quantity } asks { priceCents quantity } } }`;
const VOUCHERS = `subscription OnRewardVoucherIssued { rewardVoucherIssued { epoch leafIndex amount session { id song { id title artist { name } } } } }`;

type TradeEvent = { tradeExecuted: { priceCents: number; quantity: number; song: { id: string; title: string; artist: { name: string } } } };

describe('live subscriptions through the gateway', () => {
  it('delivers trades and books of the subscribed song only, in execution order, resolving fields from catalog, on both gateways once', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Live Song');
    const other = await songOnMarket(stack, db, 'Other Song');
    const offering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 1000, pricePerShareCents: 10, revenueShareBps: 100 } },
      { token: artist.token },
    );
    const otherOffering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId: other.songId, totalShares: 1000, pricePerShareCents: 10, revenueShareBps: 100 } },
      { token: other.artist.token },
    );
    const seller = await signUp(stack, 'FAN');
    const buyer = await signUp(stack, 'FAN');
    for (const fan of [seller, buyer]) await deposit(stack, db, fan.userId, 100_000);
    await stack.gql(BUY_OFFERING, { offeringId: offering.data!.createShareOffering.id, quantity: 100 }, { token: seller.token });
    await stack.gql(BUY_OFFERING, { offeringId: otherOffering.data!.createShareOffering.id, quantity: 100 }, { token: seller.token });

    const onFirst = subscribe<TradeEvent>(stack.gatewayUrl, TRADES, { songId });
    const onSecond = subscribe<TradeEvent>(`http://127.0.0.1:${second.port}/graphql`, TRADES, { songId });
    const books = subscribe<{ orderBookUpdated: { asks: { priceCents: number }[] } }>(stack.gatewayUrl, BOOKS, { songId });
    await Promise.all([onFirst.ready, onSecond.ready, books.ready]);

    for (const price of [11, 12, 13]) {
      await stack.gql(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 5, limitPriceCents: price } }, { token: seller.token });
    }
    await stack.gql(PLACE, { input: { songId: other.songId, side: 'SELL', type: 'LIMIT', quantity: 5, limitPriceCents: 10 } }, { token: seller.token });
    await stack.gql(PLACE, { input: { songId: other.songId, side: 'BUY', type: 'LIMIT', quantity: 5, limitPriceCents: 10 } }, { token: buyer.token });
    // One market buy sweeps three levels: three trades, in price order.
    await stack.gql(PLACE, { input: { songId, side: 'BUY', type: 'MARKET', quantity: 15 } }, { token: buyer.token });

    await until(() => onFirst.events.length >= 3 && onSecond.events.length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    for (const sub of [onFirst, onSecond]) {
      expect(sub.errors).toEqual([]);
      expect(sub.events.map((e) => e.tradeExecuted.priceCents)).toEqual([11, 12, 13]);
      expect(sub.events[0]!.tradeExecuted.song).toEqual({ id: songId, title: 'Live Song', artist: { name: 'Live Song Artist' } });
    }
    // One book event per change. Each reads the book back when it is delivered, so it shows that
    // change or a later one: always a state the book went through, ending empty.
    await until(() => books.events.length >= 4);
    expect(books.events).toHaveLength(4);
    const states = [[11], [11, 12], [11, 12, 13], []].map((prices) => JSON.stringify(prices));
    for (const event of books.events) expect(states).toContain(JSON.stringify(event.orderBookUpdated.asks.map((a) => a.priceCents)));
    expect(books.events.at(-1)!.orderBookUpdated.asks).toEqual([]);
  });

  it("delivers a fan's own vouchers with the song resolved from catalog, and never another fan's", async () => {
    const artist = await (await import('@vibestream/catalog/testing')).newArtist(stack, 'Voucher Artist');
    const songId = await publishSong(stack, artist.token, 1, 'Voucher Song');
    const fan = await signUp(stack, 'FAN');
    const otherFan = await signUp(stack, 'FAN');
    const mine = subscribe<{ rewardVoucherIssued: { leafIndex: number; session: { song: { title: string; artist: { name: string } } } } }>(
      stack.gatewayUrl,
      VOUCHERS,
      {},
      fan.token,
    );
    const theirs = subscribe<unknown>(stack.gatewayUrl, VOUCHERS, {}, otherFan.token);
    await Promise.all([mine.ready, theirs.ready]);
    const { result } = await listenAndComplete(stack, fan.token, songId, 1);
    await until(() => mine.events.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(mine.errors).toEqual([]);
    expect(mine.events).toHaveLength(1);
    expect(mine.events[0]!.rewardVoucherIssued).toMatchObject({
      leafIndex: result.voucher!.leafIndex,
      session: { song: { title: 'Voucher Song', artist: { name: 'Voucher Artist' } } },
    });
    expect(theirs.events).toEqual([]);
  });

  it('a per-user subscription needs a token', async () => {
    const anonymous = subscribe<unknown>(stack.gatewayUrl, VOUCHERS);
    await until(() => anonymous.errors.length > 0);
    expect(JSON.stringify(anonymous.errors)).toContain('UNAUTHENTICATED');
  });

  it('closes a connection whose token expires, and refuses a bad token', async () => {
    const shortLived = await mintToken(stack.keys, { expiresIn: 2 });
    const expiring = subscribe<unknown>(stack.gatewayUrl, TRADES, { songId: crypto.randomUUID() }, shortLived);
    const closed = await expiring.closed;
    expect(closed.code).toBe(4401);
    const bad = subscribe<unknown>(stack.gatewayUrl, TRADES, { songId: crypto.randomUUID() }, 'not-a-token');
    expect((await bad.closed).code).toBe(4403);
  });

  it('limits subscriptions per connection and connections per user', async () => {
    const token = await mintToken(stack.keys, { expiresIn: 300 });
    const client = createClient({
      url: wsUrl(stack.gatewayUrl),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    clients.push(client);
    const errors: unknown[] = [];
    for (let i = 0; i < 51; i++) {
      client.subscribe(
        { query: TRADES, variables: { songId: crypto.randomUUID() } },
        { next: () => undefined, error: (e) => errors.push(e), complete: () => undefined },
      );
    }
    await until(() => errors.length > 0);
    expect(JSON.stringify(errors)).toContain('RATE_LIMITED');
    expect(errors).toHaveLength(1);

    const crowd = Array.from({ length: 21 }, () => subscribe<unknown>(stack.gatewayUrl, TRADES, { songId: crypto.randomUUID() }, token));
    const closed = await Promise.race(crowd.map((c) => c.closed));
    expect(closed.code).toBe(4429);
  });

  it('cuts off a subscriber whose events pile up past the queue limit (4420), and delivers the same burst whole within the default', async () => {
    const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph], (m) => stack.subgraphs.get(m.name)!.url);
    const strict = await startGateway({
      env: { ...stack.env, HOST: '127.0.0.1', WS_MAX_QUEUED_EVENTS: '3' },
      supergraphSdl: supergraph,
      port: 0,
      log: stack.log,
    });
    try {
      const songId = crypto.randomUUID();
      const cutOff = subscribe<unknown>(strict.url, BOOKS, { songId });
      const patient = subscribe<unknown>(second.url, BOOKS, { songId });
      await Promise.all([cutOff.ready, patient.ready]);
      // 40 events at once: each subscriber's lookups queue up faster than they resolve.
      await stack.infra.live.publishAll(Array.from({ length: 40 }, () => ({ topic: `orderBookUpdated:${songId}`, payload: { songId } })));
      const closed = await cutOff.closed;
      expect(closed.code).toBe(4420);
      expect(closed.reason).toMatch(/reads too slowly/);
      await until(() => patient.events.length >= 40);
      expect(patient.errors).toEqual([]);
      expect(patient.events).toHaveLength(40);
    } finally {
      await strict.stop();
    }
  });

  it('resolves an event once for many subscribers of a public selection, whoever they are', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Shared Song');
    const offering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 1000, pricePerShareCents: 10, revenueShareBps: 100 } },
      { token: artist.token },
    );
    const seller = await signUp(stack, 'FAN');
    const buyer = await signUp(stack, 'FAN');
    for (const fan of [seller, buyer]) await deposit(stack, db, fan.userId, 100_000);
    await stack.gql(BUY_OFFERING, { offeringId: offering.data!.createShareOffering.id, quantity: 100 }, { token: seller.token });
    const fans = await Promise.all(Array.from({ length: 8 }, () => signUp(stack, 'FAN')));
    const subs = fans.map((f, i) => subscribe<TradeEvent>(stack.gatewayUrl, TRADES, { songId }, i % 2 ? f.token : undefined));
    await Promise.all(subs.map((s) => s.ready));
    const before = await lookups();
    await stack.gql(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 1, limitPriceCents: 20 } }, { token: seller.token });
    await stack.gql(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: 20 } }, { token: buyer.token });
    await until(() => subs.every((s) => s.events.length === 1));
    expect(subs.every((s) => s.events.length === 1)).toBe(true);
    expect((await lookups()) - before).toBe(1);
  });
});

/** Supergraph lookups made by the harness gateway's subscription server so far. */
async function lookups(): Promise<number> {
  return stack.gateway.subscriptions.lookups();
}
