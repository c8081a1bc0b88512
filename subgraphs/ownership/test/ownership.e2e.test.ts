import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '../src/index.ts';
import {
  BOOK,
  BUY_OFFERING,
  CANCEL,
  DISTRIBUTE,
  MARKET,
  OFFER,
  PLACE,
  PORTFOLIO,
  checkInvariants,
  deposit,
  signUp,
  songOnMarket,
  type Placed,
} from './helpers.ts';

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-own-'));
  stack = await startTestStack('ownership', [identitySubgraph, catalogSubgraph, ownershipSubgraph], { MEDIA_DIR: mediaDir, TAKER_FEE_BPS: '50' });
  db = stack.db;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

type Portfolio = {
  me: {
    tradingAccount: { cashCents: number; reservedCents: number };
    portfolio: {
      totalValueCents: number;
      holdings: {
        quantity: number;
        reservedQuantity: number;
        averageCostCents: number;
        marketValueCents: number;
        song: { id: string; title: string; artist: { name: string } };
      }[];
    };
    openOrders: { id: string }[];
  };
};

async function account(token: string) {
  return (await stack.gql<Portfolio>(PORTFOLIO, {}, { token })).data!.me;
}

describe('an offering, two fans trading, and a revenue distribution', () => {
  it('works end to end through the gateway with every invariant holding', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Golden Share');
    const offering = await stack.gql<{ createShareOffering: { id: string; status: string; sharesRemaining: number } }>(
      OFFER,
      { input: { songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 2000 } },
      { token: artist.token },
    );
    expect(offering.errors).toBeUndefined();
    expect(offering.data!.createShareOffering).toMatchObject({ status: 'OPEN', sharesRemaining: 1000 });
    const offeringId = offering.data!.createShareOffering.id;
    expect(errorCode(await stack.gql(OFFER, { input: { songId, totalShares: 10, pricePerShareCents: 1, revenueShareBps: 1 } }, { token: artist.token }))).toBe(
      'CONFLICT',
    );

    const alice = await signUp(stack, 'FAN', 'Alice');
    const bob = await signUp(stack, 'FAN', 'Bob');
    // A deposit event delivered twice credits once.
    await deposit(stack, db, alice.userId, 50_000, undefined, 2);
    await deposit(stack, db, bob.userId, 50_000);
    await new Promise((r) => setTimeout(r, 200));
    expect((await account(alice.token)).tradingAccount).toEqual({ cashCents: 50_000, reservedCents: 0 });

    const bought = await stack.gql<{ buyOfferingShares: { quantity: number; costCents: number; holding: { quantity: number } } }>(
      BUY_OFFERING,
      { offeringId, quantity: 100 },
      { token: alice.token },
    );
    expect(bought.data!.buyOfferingShares).toEqual({ quantity: 100, costCents: 10_000, holding: { quantity: 100 } });
    await stack.gql(BUY_OFFERING, { offeringId, quantity: 50 }, { token: bob.token });
    expect(errorCode(await stack.gql(BUY_OFFERING, { offeringId, quantity: 5 }, { token: artist.token }))).toBe('FORBIDDEN');
    expect(errorCode(await stack.gql(BUY_OFFERING, { offeringId, quantity: 0 }, { token: bob.token }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(BUY_OFFERING, { offeringId, quantity: 851 }, { token: bob.token }))).toBe('BAD_USER_INPUT');

    // Alice rests a sell; Bob's limit buy crosses it and trades at Alice's price; the taker pays 0.5%.
    const sell = await stack.gql<Placed>(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 30, limitPriceCents: 120 } }, { token: alice.token });
    expect(sell.data!.placeOrder.order).toMatchObject({ status: 'OPEN', filledQuantity: 0 });
    const buy = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 20, limitPriceCents: 125 } }, { token: bob.token });
    expect(buy.data!.placeOrder.order).toMatchObject({ status: 'FILLED', filledQuantity: 20, averageFillPriceCents: 120 });
    expect(buy.data!.placeOrder.trades).toEqual([{ id: expect.any(String), priceCents: 120, quantity: 20 }]);

    // A MARKET buy takes the rest of the book; its unfilled remainder is cancelled, never rested.
    const market = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'MARKET', quantity: 50 } }, { token: bob.token });
    expect(market.data!.placeOrder.order).toMatchObject({ status: 'CANCELLED', filledQuantity: 10 });
    const book = await stack.gql<{ orderBook: { bids: unknown[]; asks: unknown[]; lastTradePriceCents: number } }>(BOOK, { songId });
    expect(book.data!.orderBook).toMatchObject({ bids: [], asks: [], lastTradePriceCents: 120 });

    const a = await account(alice.token);
    const b = await account(bob.token);
    // Alice: 50,000 - 10,000 (offering) + 30 * 120 (sold as maker, no fee).
    expect(a.tradingAccount).toEqual({ cashCents: 50_000 - 10_000 + 3_600, reservedCents: 0 });
    // Bob: 50,000 - 5,000 - (2,400 + 12 fee) - (1,200 + 6 fee).
    expect(b.tradingAccount).toEqual({ cashCents: 50_000 - 5_000 - 2_412 - 1_206, reservedCents: 0 });
    expect(a.portfolio.holdings).toEqual([
      expect.objectContaining({
        quantity: 70,
        reservedQuantity: 0,
        averageCostCents: 100,
        marketValueCents: 70 * 120,
        song: expect.objectContaining({ id: songId, title: 'Golden Share' }),
      }),
    ]);
    expect(b.portfolio.holdings[0]).toMatchObject({ quantity: 80, marketValueCents: 80 * 120 });
    expect(b.portfolio.totalValueCents).toBe(80 * 120);

    const marketData = await stack.gql<{ song: { market: Record<string, unknown> } }>(MARKET, { songId });
    expect(marketData.data!.song.market).toMatchObject({
      lastTradePriceCents: 120,
      volume24h: 30,
      high24hCents: 120,
      low24hCents: 120,
      twapCents: 120,
      offering: { id: offeringId, sharesRemaining: 850, pricePerShareCents: 100 },
    });

    // ADMIN distributes 10,000 cents: 7 cents a share to holders (by total shares), the rest to the artist.
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const first = await stack.gql<{ distributeRevenue: { id: string; totalCents: number; holderCount: number } }>(
      DISTRIBUTE,
      { songId, amountCents: 10_000, periodLabel: '2026-11' },
      { token: admin },
    );
    expect(first.data!.distributeRevenue).toMatchObject({ totalCents: 10_000, holderCount: 2 });
    const again = await stack.gql<{ distributeRevenue: { id: string } }>(DISTRIBUTE, { songId, amountCents: 10_000, periodLabel: '2026-11' }, { token: admin });
    expect(again.data!.distributeRevenue.id).toBe(first.data!.distributeRevenue.id);
    expect((await account(alice.token)).tradingAccount.cashCents).toBe(50_000 - 10_000 + 3_600 + 700);
    expect((await account(bob.token)).tradingAccount.cashCents).toBe(50_000 - 5_000 - 2_412 - 1_206 + 800);
    expect(errorCode(await stack.gql(DISTRIBUTE, { songId, amountCents: 5, periodLabel: 'x' }, { token: bob.token }))).toBe('FORBIDDEN');

    const invariants = await checkInvariants(db);
    expect(invariants.sharesOk).toBe(true);
    expect(invariants.cash.conserved).toBe(true);
    expect(Number(invariants.cash.unbalanced)).toBe(0);
    expect(invariants.negatives).toBe(0);
  });
});

describe('order rules', () => {
  it('INSUFFICIENT_FUNDS reserves nothing', async () => {
    const { songId } = await songOnMarket(stack, db, 'Broke Tune');
    const fan = await signUp(stack, 'FAN');
    await deposit(stack, db, fan.userId, 1_000);
    const tooBig = await stack.gql(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 10, limitPriceCents: 100 } }, { token: fan.token });
    expect(errorCode(tooBig)).toBe('INSUFFICIENT_FUNDS');
    const noShares = await stack.gql(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 1, limitPriceCents: 100 } }, { token: fan.token });
    expect(errorCode(noShares)).toBe('INSUFFICIENT_FUNDS');
    const me = await account(fan.token);
    expect(me.tradingAccount).toEqual({ cashCents: 1_000, reservedCents: 0 });
    expect(me.openOrders).toEqual([]);
    expect(errorCode(await stack.gql(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1 } }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 0, limitPriceCents: 5 } }, { token: fan.token }))).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('self-trade prevention cancels the resting order of the same account', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Mirror Song');
    const offering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 100, pricePerShareCents: 10, revenueShareBps: 100 } },
      { token: artist.token },
    );
    const fan = await signUp(stack, 'FAN');
    await deposit(stack, db, fan.userId, 10_000);
    await stack.gql(BUY_OFFERING, { offeringId: offering.data!.createShareOffering.id, quantity: 10 }, { token: fan.token });
    const sell = await stack.gql<Placed>(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 5, limitPriceCents: 50 } }, { token: fan.token });
    const buy = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 5, limitPriceCents: 60 } }, { token: fan.token });
    expect(buy.data!.placeOrder.trades).toEqual([]);
    expect(buy.data!.placeOrder.order.status).toBe('OPEN');
    const cancelled = await db.query('select status from ownership.orders where id = $1', [sell.data!.placeOrder.order.id]);
    expect(cancelled.rows[0].status).toBe('CANCELLED');
    const me = await account(fan.token);
    expect(me.portfolio.holdings[0]).toMatchObject({ quantity: 10, reservedQuantity: 0 });
  });

  it('a duplicate clientOrderId returns the first order; cancelling a filled order is CONFLICT', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Retry Song');
    const offering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 100, pricePerShareCents: 10, revenueShareBps: 100 } },
      { token: artist.token },
    );
    const seller = await signUp(stack, 'FAN');
    const buyer = await signUp(stack, 'FAN');
    await deposit(stack, db, seller.userId, 10_000);
    await deposit(stack, db, buyer.userId, 10_000);
    await stack.gql(BUY_OFFERING, { offeringId: offering.data!.createShareOffering.id, quantity: 10 }, { token: seller.token });
    const input = { songId, side: 'SELL', type: 'LIMIT', quantity: 4, limitPriceCents: 30, clientOrderId: 'sell-1' };
    const first = await stack.gql<Placed>(PLACE, { input }, { token: seller.token });
    const retried = await stack.gql<Placed>(PLACE, { input }, { token: seller.token });
    expect(retried.data!.placeOrder.order.id).toBe(first.data!.placeOrder.order.id);
    expect((await account(seller.token)).portfolio.holdings[0]!.reservedQuantity).toBe(4);

    const buy = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 4, limitPriceCents: 30 } }, { token: buyer.token });
    expect(buy.data!.placeOrder.order.status).toBe('FILLED');
    expect(errorCode(await stack.gql(CANCEL, { orderId: first.data!.placeOrder.order.id }, { token: seller.token }))).toBe('CONFLICT');
    expect(errorCode(await stack.gql(CANCEL, { orderId: first.data!.placeOrder.order.id }, { token: buyer.token }))).toBe('FORBIDDEN');

    const resting = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 2, limitPriceCents: 20 } }, { token: buyer.token });
    const cancel = await stack.gql<{ cancelOrder: { status: string } }>(CANCEL, { orderId: resting.data!.placeOrder.order.id }, { token: buyer.token });
    expect(cancel.data!.cancelOrder.status).toBe('CANCELLED');
    expect((await account(buyer.token)).tradingAccount.reservedCents).toBe(0);
    expect(errorCode(await stack.gql(CANCEL, { orderId: resting.data!.placeOrder.order.id }, { token: buyer.token }))).toBe('CONFLICT');

    const invariants = await checkInvariants(db);
    expect(invariants).toMatchObject({ sharesOk: true, negatives: 0, reservations: { cash_mismatch: '0', share_mismatch: '0' } });
    expect(invariants.cash.conserved).toBe(true);
  });

  it("another user's account, portfolio and orders are FORBIDDEN", async () => {
    const fan = await signUp(stack, 'FAN');
    const other = await signUp(stack, 'FAN');
    const entities = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { tradingAccount { cashCents } openOrders { id } } } }`;
    const res = await stack.subgraph('ownership')(entities, { r: [{ __typename: 'User', id: fan.userId }] }, { token: other.token });
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });
});
