// ownership's use cases on ownership's own schema, with other contexts' events injected (songs from
// catalog.song.published.v1, cash from payments.deposit.succeeded.v1): no gateway, no other context
// booted. The services are called as the resolvers call them, with a Principal. What crosses
// contexts (auth through the gateway, Song fields on holdings, the market on a song) is
// ownership.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLiveEvents, ProjectionWaits, openDatabase, openPersistence, type MikroORM, type Principal, type Role } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { SongPublished } from '@vibestream/contracts/catalog';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { ownershipHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { openPlacementPool, type PlacementPool } from '../src/placement.ts';
import { OwnershipService } from '../src/service.ts';
import { checkInvariants } from './helpers.ts';

const FEE_BPS = 50;
let h: ContextHarness;
let db: pg.Client;
const pools: PlacementPool[] = [];
const orms: MikroORM[] = [];
let service: OwnershipService;

/** An OwnershipService as app.ts builds it, on its own connections (a replica has its own). */
function newService(persistence = h.db): OwnershipService {
  const live = new MemoryLiveEvents();
  const sql = openPlacementPool({ url: h.database.url, schema: 'ownership', max: 20 });
  pools.push(sql);
  return new OwnershipService({
    db: persistence,
    takerFeeBps: FEE_BPS,
    live,
    log: h.log,
    sql,
    onEventsCommitted: () => {},
    // Songs are injected and handled before they are used: nothing to wait for.
    projections: new ProjectionWaits({ group: 'ownership', timeoutMs: 0, live, log: h.log }),
  });
}

beforeAll(async () => {
  h = await openContext({ name: 'ownership', migrations });
  h.consume(ownershipHandlers(h.db));
  service = newService();
  db = new pg.Client({ connectionString: h.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all(orms.map((o) => o.close()));
  await h?.close();
});

const as = (roles: Role[], userId = randomUUID()): Principal => ({ userId, roles, sessionId: 's', expiresAt: Date.now() / 1000 + 3600 });
const fan = () => as(['FAN']);

/** The error code a resolver would answer with: the AppError's, or INTERNAL_SERVER_ERROR for anything else. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
    return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
  }
}

/** A song catalog published, as ownership learns it; answers the artist and the song's id. */
async function songOnMarket(title: string) {
  const artist = as(['ARTIST']);
  const songId = randomUUID();
  await h.inject(SongPublished, {
    songId,
    artistId: randomUUID(),
    artistUserId: artist.userId,
    title,
    genre: 'Pop',
    durationSeconds: 1,
    publishedAt: new Date().toISOString(),
  });
  return { artist, songId };
}

/** payments.deposit.succeeded.v1, delivered `times` times; resolves once each delivery was handled. */
async function deposit(userId: string, amountCents: number, times = 1, depositId = randomUUID()) {
  await h.inject(DepositSucceeded, { depositId, userId, amountCents, method: 'CARD', succeededAt: new Date().toISOString() }, { times });
  return depositId;
}

const offer = (artist: Principal, songId: string, totalShares: number, pricePerShareCents: number, revenueShareBps: number) =>
  service.createOffering(artist, { songId, totalShares, pricePerShareCents, revenueShareBps });
const limit = (songId: string, side: 'BUY' | 'SELL', quantity: number, limitPriceCents: number, clientOrderId?: string) => ({
  songId,
  side,
  type: 'LIMIT' as const,
  quantity,
  limitPriceCents,
  ...(clientOrderId ? { clientOrderId } : {}),
});
/** An order as the API shows it (Order.averageFillPriceCents is the resolver's rounding). */
const shown = (o: { status: string; filled_quantity: number; fill_value_cents: string }) => ({
  status: o.status,
  filledQuantity: o.filled_quantity,
  averageFillPriceCents: o.filled_quantity > 0 ? Math.round(Number(o.fill_value_cents) / o.filled_quantity) : null,
});
const trades = (t: { id: string; price_cents: number; quantity: number }[]) => t.map((x) => ({ id: x.id, priceCents: x.price_cents, quantity: x.quantity }));
const holding = async (userId: string) => (await service.holdings(userId))[0]!;

describe('an offering, two fans trading, and a revenue distribution', () => {
  it('keeps the ledger exact, with every invariant holding', async () => {
    const { artist, songId } = await songOnMarket('Golden Share');
    const offering = await offer(artist, songId, 1000, 100, 2000);
    expect(offering).toMatchObject({ shares_remaining: 1000 });
    expect(await codeOf(offer(artist, songId, 10, 1, 1))).toBe('CONFLICT');

    const alice = fan();
    const bob = fan();
    // A deposit event delivered three times (redelivered under its id, then under a new one) credits once.
    await deposit(alice.userId, 50_000, 3);
    await deposit(bob.userId, 50_000);
    expect(await service.tradingAccount(alice.userId)).toEqual({ cashCents: 50_000, reservedCents: 0 });

    const bought = await service.buyOffering(alice, offering.id, 100);
    expect({ ...bought, holding: { quantity: bought.holding.quantity } }).toEqual({ quantity: 100, costCents: 10_000, holding: { quantity: 100 } });
    await service.buyOffering(bob, offering.id, 50);
    expect(await codeOf(service.buyOffering(artist, offering.id, 5))).toBe('FORBIDDEN');
    expect(await codeOf(service.buyOffering(bob, offering.id, 0))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.buyOffering(bob, offering.id, 851))).toBe('BAD_USER_INPUT');

    // Alice rests a sell; Bob's limit buy crosses it and trades at Alice's price; the taker pays 0.5%.
    const sell = await service.placeOrder(alice, limit(songId, 'SELL', 30, 120));
    expect(shown(sell.order)).toMatchObject({ status: 'OPEN', filledQuantity: 0 });
    const buy = await service.placeOrder(bob, limit(songId, 'BUY', 20, 125));
    expect(shown(buy.order)).toMatchObject({ status: 'FILLED', filledQuantity: 20, averageFillPriceCents: 120 });
    expect(trades(buy.trades)).toEqual([{ id: expect.any(String), priceCents: 120, quantity: 20 }]);

    // A MARKET buy takes the rest of the book; its unfilled remainder is cancelled, never rested.
    const market = await service.placeOrder(bob, { songId, side: 'BUY', type: 'MARKET', quantity: 50 });
    expect(shown(market.order)).toMatchObject({ status: 'CANCELLED', filledQuantity: 10 });
    expect(await service.orderBook(songId)).toMatchObject({ bids: [], asks: [], lastTradePriceCents: 120 });

    // Alice: 50,000 - 10,000 (offering) + 30 * 120 (sold as maker, no fee).
    expect(await service.tradingAccount(alice.userId)).toEqual({ cashCents: 50_000 - 10_000 + 3_600, reservedCents: 0 });
    // Bob: 50,000 - 5,000 - (2,400 + 12 fee) - (1,200 + 6 fee).
    expect(await service.tradingAccount(bob.userId)).toEqual({ cashCents: 50_000 - 5_000 - 2_412 - 1_206, reservedCents: 0 });
    const aliceHolds = await holding(alice.userId);
    expect(aliceHolds).toMatchObject({ song_id: songId, quantity: 70, reserved_quantity: 0 });
    expect(Math.round(Number(aliceHolds.cost_cents) / aliceHolds.quantity)).toBe(100);
    expect(await holding(bob.userId)).toMatchObject({ quantity: 80 });

    // ADMIN distributes 10,000 cents: 7 cents a share to holders (by total shares), the rest to the artist.
    const admin = as(['ADMIN']);
    const first = await service.distributeRevenue(admin, songId, 10_000, '2026-11');
    expect({ totalCents: Number(first.total_cents), holderCount: first.holder_count }).toMatchObject({ totalCents: 10_000, holderCount: 2 });
    const again = await service.distributeRevenue(admin, songId, 10_000, '2026-11');
    expect(again.id).toBe(first.id);
    expect((await service.tradingAccount(alice.userId)).cashCents).toBe(50_000 - 10_000 + 3_600 + 700);
    expect((await service.tradingAccount(bob.userId)).cashCents).toBe(50_000 - 5_000 - 2_412 - 1_206 + 800);
    // One ownership.revenue.paid.v1 per holder, recorded once.
    const paid = await h.recorded('ownership.revenue.paid.v1');
    expect(paid.map((e) => ({ userId: e.payload.userId, amountCents: e.payload.amountCents }))).toEqual(
      expect.arrayContaining([
        { userId: alice.userId, amountCents: 700 },
        { userId: bob.userId, amountCents: 800 },
      ]),
    );
    expect(paid).toHaveLength(2);

    const invariants = await checkInvariants(db);
    expect(invariants.sharesOk).toBe(true);
    expect(invariants.cash.conserved).toBe(true);
    expect(Number(invariants.cash.unbalanced)).toBe(0);
    expect(invariants.negatives).toBe(0);
  });
});

describe('order rules', () => {
  it('INSUFFICIENT_FUNDS reserves nothing', async () => {
    const { songId } = await songOnMarket('Broke Tune');
    const buyer = fan();
    await deposit(buyer.userId, 1_000);
    expect(await codeOf(service.placeOrder(buyer, limit(songId, 'BUY', 10, 100)))).toBe('INSUFFICIENT_FUNDS');
    expect(await codeOf(service.placeOrder(buyer, limit(songId, 'SELL', 1, 100)))).toBe('INSUFFICIENT_FUNDS');
    expect(await service.tradingAccount(buyer.userId)).toEqual({ cashCents: 1_000, reservedCents: 0 });
    expect(await service.openOrders(buyer.userId, 100)).toEqual([]);
    expect(await codeOf(service.placeOrder(buyer, { songId, side: 'BUY', type: 'LIMIT', quantity: 1 }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.placeOrder(buyer, limit(songId, 'BUY', 0, 5)))).toBe('BAD_USER_INPUT');
  });

  it('self-trade prevention cancels the resting order of the same account', async () => {
    const { artist, songId } = await songOnMarket('Mirror Song');
    const offering = await offer(artist, songId, 100, 10, 100);
    const trader = fan();
    await deposit(trader.userId, 10_000);
    await service.buyOffering(trader, offering.id, 10);
    const sell = await service.placeOrder(trader, limit(songId, 'SELL', 5, 50));
    const buy = await service.placeOrder(trader, limit(songId, 'BUY', 5, 60));
    expect(buy.trades).toEqual([]);
    expect(buy.order.status).toBe('OPEN');
    const cancelled = await db.query('select status from ownership.orders where id = $1', [sell.order.id]);
    expect(cancelled.rows[0].status).toBe('CANCELLED');
    expect(await holding(trader.userId)).toMatchObject({ quantity: 10, reserved_quantity: 0 });
  });

  it('a duplicate clientOrderId returns the first order; cancelling a filled order is CONFLICT', async () => {
    const { artist, songId } = await songOnMarket('Retry Song');
    const offering = await offer(artist, songId, 100, 10, 100);
    const seller = fan();
    const buyer = fan();
    await deposit(seller.userId, 10_000);
    await deposit(buyer.userId, 10_000);
    await service.buyOffering(seller, offering.id, 10);
    const input = limit(songId, 'SELL', 4, 30, 'sell-1');
    const first = await service.placeOrder(seller, input);
    const retried = await service.placeOrder(seller, input);
    expect(retried.order.id).toBe(first.order.id);
    expect((await holding(seller.userId)).reserved_quantity).toBe(4);

    const buy = await service.placeOrder(buyer, limit(songId, 'BUY', 4, 30));
    expect(buy.order.status).toBe('FILLED');
    expect(await codeOf(service.cancelOrder(seller, first.order.id))).toBe('CONFLICT');
    expect(await codeOf(service.cancelOrder(buyer, first.order.id))).toBe('FORBIDDEN');

    const resting = await service.placeOrder(buyer, limit(songId, 'BUY', 2, 20));
    const cancel = await service.cancelOrder(buyer, resting.order.id);
    expect(cancel.status).toBe('CANCELLED');
    expect((await service.tradingAccount(buyer.userId)).reservedCents).toBe(0);
    expect(await codeOf(service.cancelOrder(buyer, resting.order.id))).toBe('CONFLICT');

    const invariants = await checkInvariants(db);
    expect(invariants).toMatchObject({ sharesOk: true, negatives: 0, reservations: { cash_mismatch: '0', share_mismatch: '0' } });
    expect(invariants.cash.conserved).toBe(true);
  });
});

describe('storm: two replicas, 20 clients, 200 random orders each on 3 songs', () => {
  const CLIENTS = 20;
  const OPERATIONS = 200;
  const SONGS = 3;

  it('keeps every invariant exactly, and the book equals the resting orders', async () => {
    // A second replica, with its own connections, as a separate process would have; calls alternate between the two.
    const orm = await openDatabase({ url: h.database.url, schema: 'ownership', entities: [], migrations, log: h.log, poolSize: 20 });
    orms.push(orm);
    const replicas = [service, newService(openPersistence(orm, { source: 'ownership' }))];
    const served = [0, 0];
    let next = 0;
    const replica = () => {
      const index = next++ % replicas.length;
      served[index]!++;
      return replicas[index]!;
    };

    const songs: string[] = [];
    const offerings: string[] = [];
    for (let i = 0; i < SONGS; i++) {
      const { artist, songId } = await songOnMarket(`Storm ${i}`);
      const offering = await replica().createOffering(artist, { songId, totalShares: 100_000, pricePerShareCents: 100, revenueShareBps: 1000 });
      songs.push(songId);
      offerings.push(offering.id);
    }
    const clients = Array.from({ length: CLIENTS }, fan);
    for (const client of clients) {
      await deposit(client.userId, 500_000);
      for (const offeringId of offerings) await replica().buyOffering(client, offeringId, 200);
    }

    const codes = new Map<string, number>();
    const count = (key: string) => codes.set(key, (codes.get(key) ?? 0) + 1);
    let traded = 0;
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    await Promise.all(
      clients.map(async (client) => {
        const open: string[] = [];
        for (let op = 0; op < OPERATIONS; op++) {
          if (open.length > 0 && random() < 0.2) {
            const orderId = open.splice(Math.floor(random() * open.length), 1)[0]!;
            count(`cancel:${await codeOf(replica().cancelOrder(client, orderId))}`);
            continue;
          }
          const market = random() < 0.15;
          const input = {
            songId: songs[Math.floor(random() * SONGS)]!,
            side: random() < 0.5 ? ('BUY' as const) : ('SELL' as const),
            type: market ? ('MARKET' as const) : ('LIMIT' as const),
            quantity: 1 + Math.floor(random() * 20),
            ...(market ? {} : { limitPriceCents: 80 + Math.floor(random() * 41) }),
            ...(random() < 0.1 ? { clientOrderId: `c-${Math.floor(random() * 50)}` } : {}),
          };
          const placing = replica().placeOrder(client, input);
          count(`place:${await codeOf(placing)}`);
          const placed = await placing.catch(() => null);
          if (placed) {
            traded += placed.trades.length;
            if (placed.order.status === 'OPEN') open.push(placed.order.id);
          }
        }
      }),
    );

    expect([...codes.keys()].filter((k) => !/:(OK|INSUFFICIENT_FUNDS|CONFLICT)$/.test(k))).toEqual([]);
    expect(codes.get('place:OK')).toBeGreaterThan(2000);
    expect(traded).toBeGreaterThan(200);
    expect(Math.min(...served)).toBeGreaterThan(1000);

    const invariants = await checkInvariants(db);
    expect(invariants.sharesOk).toBe(true);
    expect(invariants.cash.conserved).toBe(true);
    expect(Number(invariants.cash.unbalanced)).toBe(0);
    expect(Number(invariants.cash.fees)).toBe(Number(invariants.cash.fees_journal));
    expect(invariants.negatives).toBe(0);
    expect(invariants.reservations).toEqual({ cash_mismatch: '0', share_mismatch: '0' });

    for (const songId of songs) {
      const book = await service.orderBook(songId, 100);
      const rows = await db.query(
        `select side, limit_price_cents as "priceCents", sum(quantity - filled_quantity)::int as quantity, count(*)::int as orders
         from ownership.orders where song_id = $1 and status = 'OPEN' group by side, limit_price_cents`,
        [songId],
      );
      const fromDb = (side: string, direction: number) =>
        rows.rows
          .filter((r) => r.side === side)
          .map(({ priceCents, quantity, orders }) => ({ priceCents, quantity, orders }))
          .sort((x, y) => direction * (x.priceCents - y.priceCents));
      expect(book.bids).toEqual(fromDb('BUY', -1));
      expect(book.asks).toEqual(fromDb('SELL', 1));
      const bestBid = book.bids[0]?.priceCents ?? 0;
      const bestAsk = book.asks[0]?.priceCents ?? Infinity;
      expect(bestBid).toBeLessThan(bestAsk);
    }
  }, 240_000);
});
