import { describe, expect, it } from 'vitest';
import { DEFAULT_TAKER_FEE_BPS, takerFee } from '../src/domain/fees.ts';
import { OrderBook, type IncomingOrder, type RestingOrder, type Side } from '../src/domain/matching.ts';

let seq = 0;
const resting = (id: string, accountId: string, side: Side, priceCents: number, remaining: number, s = ++seq): RestingOrder => ({
  id,
  accountId,
  side,
  priceCents,
  remaining,
  seq: s,
});
const limit = (id: string, accountId: string, side: Side, quantity: number, limitPriceCents: number): IncomingOrder => ({
  id,
  accountId,
  side,
  type: 'LIMIT',
  quantity,
  limitPriceCents,
  seq: ++seq,
});
const market = (id: string, accountId: string, side: Side, quantity: number, budgetCents?: number): IncomingOrder => ({
  id,
  accountId,
  side,
  type: 'MARKET',
  quantity,
  budgetCents: budgetCents ?? null,
  seq: ++seq,
});
const brief = (fills: { makerOrderId: string; priceCents: number; quantity: number }[]) => fills.map((f) => [f.makerOrderId, f.priceCents, f.quantity]);

describe('takerFee', () => {
  it('is floor(value * bps / 10000): a fraction of a cent is dropped', () => {
    expect(takerFee(10_000, 50)).toBe(50);
    expect(takerFee(100, 50)).toBe(0); // 0.5 cent -> 0
    expect(takerFee(199, 50)).toBe(0); // 0.995 -> 0
    expect(takerFee(200, 50)).toBe(1); // exactly 1
    expect(takerFee(399, 50)).toBe(1); // 1.995 -> 1
    expect(takerFee(0, 50)).toBe(0);
    expect(takerFee(12_345, 0)).toBe(0);
    expect(takerFee(12_345, 10_000)).toBe(12_345);
    expect(takerFee(12_345, 9_999)).toBe(12_343); // 12343.7655
    expect(DEFAULT_TAKER_FEE_BPS).toBe(50);
  });

  it('never charges the fills of an order more than the fee of their total value', () => {
    // What the reservation of a LIMIT BUY (quantity * limit + fee) relies on.
    const values = [1, 99, 100, 101, 199, 333, 10_001];
    expect(values.reduce((s, v) => s + takerFee(v, 50), 0)).toBeLessThanOrEqual(
      takerFee(
        values.reduce((s, v) => s + v, 0),
        50,
      ),
    );
  });

  it('is exact for large values where value * bps exceeds 2^53', () => {
    const check = (value: number, bps: number) => {
      expect(BigInt(takerFee(value, bps))).toBe((BigInt(value) * BigInt(bps)) / 10000n);
    };
    check(1e12, 50);
    check(1e12 + 1, 50);
    check(1e12 - 1, 50);
    check(999_999_999_999, 9_999);
    check(123_456_789_012, 37);
    check(Number.MAX_SAFE_INTEGER, 10_000);
    check(Number.MAX_SAFE_INTEGER, 9_999);
    check(Number.MAX_SAFE_INTEGER - 12_345, 1);
  });

  it('rejects invalid input', () => {
    expect(() => takerFee(-1, 50)).toThrow(RangeError);
    expect(() => takerFee(1.5, 50)).toThrow(RangeError);
    expect(() => takerFee(Number.MAX_SAFE_INTEGER + 1, 50)).toThrow(RangeError);
    expect(() => takerFee(100, -1)).toThrow(RangeError);
    expect(() => takerFee(100, 10_001)).toThrow(RangeError);
    expect(() => takerFee(100, 0.5)).toThrow(RangeError);
  });
});

describe('OrderBook', () => {
  it('matches the best price first (price priority)', () => {
    const book = new OrderBook([resting('a1', 'm', 'SELL', 105, 1), resting('a2', 'm', 'SELL', 101, 1), resting('a3', 'm', 'SELL', 103, 1)]);
    const r = book.match(limit('t', 'taker', 'BUY', 3, 110), 0);
    expect(brief(r.fills)).toEqual([
      ['a2', 101, 1],
      ['a3', 103, 1],
      ['a1', 105, 1],
    ]);
    const book2 = new OrderBook([resting('b1', 'm', 'BUY', 95, 1), resting('b2', 'm', 'BUY', 99, 1), resting('b3', 'm', 'BUY', 97, 1)]);
    const r2 = book2.match(market('t2', 'taker', 'SELL', 2), 0);
    expect(brief(r2.fills)).toEqual([
      ['b2', 99, 1],
      ['b3', 97, 1],
    ]);
  });

  it('matches earlier orders first within a level (time priority by seq, whatever the insertion order)', () => {
    const book = new OrderBook([resting('late', 'm1', 'SELL', 100, 1, 30), resting('early', 'm2', 'SELL', 100, 1, 10)]);
    book.add(resting('middle', 'm3', 'SELL', 100, 1, 20));
    expect(book.orders('SELL').map((o) => o.id)).toEqual(['early', 'middle', 'late']);
    const r = book.match(limit('t', 'taker', 'BUY', 3, 100), 0);
    expect(r.fills.map((f) => f.makerOrderId)).toEqual(['early', 'middle', 'late']);
  });

  it("trades at the resting order's price, not the taker's limit", () => {
    const book = new OrderBook([resting('a', 'm', 'SELL', 100, 5)]);
    const r = book.match(limit('t', 'taker', 'BUY', 2, 150), DEFAULT_TAKER_FEE_BPS);
    expect(r.fills).toEqual([
      {
        makerOrderId: 'a',
        makerAccountId: 'm',
        takerOrderId: 't',
        takerAccountId: 'taker',
        takerSide: 'BUY',
        priceCents: 100,
        quantity: 2,
        takerFeeCents: takerFee(200, DEFAULT_TAKER_FEE_BPS),
      },
    ]);
    const sellBook = new OrderBook([resting('b', 'm', 'BUY', 120, 5)]);
    expect(sellBook.match(limit('t2', 'taker', 'SELL', 1, 90), 0).fills[0]!.priceCents).toBe(120);
  });

  it('partially fills a maker, which keeps its reduced remaining and its priority', () => {
    const maker = resting('a', 'm', 'SELL', 100, 10);
    const book = new OrderBook([maker, resting('a2', 'm2', 'SELL', 100, 5)]);
    const r = book.match(limit('t', 'taker', 'BUY', 4, 100), 0);
    expect(brief(r.fills)).toEqual([['a', 100, 4]]);
    expect(r).toMatchObject({ filledQuantity: 4, remainingQuantity: 0, rested: false });
    expect(book.get('a')!.remaining).toBe(6);
    expect(maker.remaining).toBe(6); // the book mutates the object it was given
    expect(book.bestAsk()!.id).toBe('a');
    expect(book.levels('SELL', 10)).toEqual([{ priceCents: 100, quantity: 11, orders: 2 }]);
  });

  it('partially fills the taker across makers, removing the fully filled ones', () => {
    const book = new OrderBook([resting('a1', 'm', 'SELL', 100, 3), resting('a2', 'm', 'SELL', 101, 2), resting('a3', 'm', 'SELL', 102, 4)]);
    const r = book.match(limit('t', 'taker', 'BUY', 7, 102), 0);
    expect(brief(r.fills)).toEqual([
      ['a1', 100, 3],
      ['a2', 101, 2],
      ['a3', 102, 2],
    ]);
    expect(book.get('a1')).toBeUndefined();
    expect(book.get('a2')).toBeUndefined();
    expect(book.get('a3')!.remaining).toBe(2);
    expect(book.size).toBe(1);
  });

  it('rests the remainder of a LIMIT order at its limit price', () => {
    const book = new OrderBook([resting('a1', 'm', 'SELL', 100, 3), resting('a2', 'm', 'SELL', 105, 3)]);
    const r = book.match(limit('t', 'taker', 'BUY', 5, 102), 0);
    expect(brief(r.fills)).toEqual([['a1', 100, 3]]);
    expect(r).toMatchObject({ filledQuantity: 3, remainingQuantity: 2, rested: true, expiredOrderIds: [] });
    expect(book.get('t')).toEqual({ id: 't', accountId: 'taker', side: 'BUY', priceCents: 102, remaining: 2, seq: expect.any(Number) });
    expect(book.bestBid()!.id).toBe('t');
    expect(book.bestAsk()!.id).toBe('a2');
    // A LIMIT order that does not cross rests whole.
    const r2 = book.match(limit('t2', 'other', 'SELL', 4, 110), 0);
    expect(r2).toEqual({ fills: [], expiredOrderIds: [], filledQuantity: 0, remainingQuantity: 4, rested: true });
    expect(book.levels('SELL', 5)).toEqual([
      { priceCents: 105, quantity: 3, orders: 1 },
      { priceCents: 110, quantity: 4, orders: 1 },
    ]);
  });

  it('never rests the remainder of a MARKET order', () => {
    const book = new OrderBook([resting('a1', 'm', 'SELL', 100, 3), resting('a2', 'm', 'SELL', 5000, 1)]);
    const r = book.match(market('t', 'taker', 'BUY', 10), 0);
    expect(brief(r.fills)).toEqual([
      ['a1', 100, 3],
      ['a2', 5000, 1],
    ]);
    expect(r).toMatchObject({ filledQuantity: 4, remainingQuantity: 6, rested: false });
    expect(book.size).toBe(0);
    const empty = book.match(market('t2', 'taker', 'SELL', 3), 0);
    expect(empty).toEqual({ fills: [], expiredOrderIds: [], filledQuantity: 0, remainingQuantity: 3, rested: false });
    expect(book.get('t')).toBeUndefined();
    expect(book.get('t2')).toBeUndefined();
  });

  it('stops a MARKET BUY before exceeding its budget, fees included, partially filling a level', () => {
    // 3 @ 100, then 10 @ 200, fee 50 bps.
    const book = new OrderBook([resting('a1', 'm', 'SELL', 100, 3), resting('a2', 'm', 'SELL', 200, 10)]);
    // First fill: 300 + floor(1.5) = 301. Left: 1000 - 301 = 699.
    // At 200: 3 shares = 600 + 3 = 603 <= 699; 4 shares = 800 + 4 > 699.
    const r = book.match(market('t', 'taker', 'BUY', 100, 1000), 50);
    expect(r.fills.map((f) => [f.makerOrderId, f.priceCents, f.quantity, f.takerFeeCents])).toEqual([
      ['a1', 100, 3, 1],
      ['a2', 200, 3, 3],
    ]);
    expect(r).toMatchObject({ filledQuantity: 6, remainingQuantity: 94, rested: false });
    expect(book.get('a2')!.remaining).toBe(7);
  });

  it('counts the fee against the budget exactly', () => {
    // At 250 with 50 bps: 1 share costs 250 + 1, 2 cost 500 + 2, 3 cost 750 + 3 (3.75 rounded down).
    const book = new OrderBook([resting('a', 'm', 'SELL', 250, 8)]);
    expect(book.match(market('t1', 'taker', 'BUY', 5, 250), 50).fills).toEqual([]);
    expect(book.match(market('t2', 'taker', 'BUY', 5, 251), 50).fills.map((f) => [f.quantity, f.takerFeeCents])).toEqual([[1, 1]]);
    expect(book.match(market('t3', 'taker', 'BUY', 5, 753), 50).fills.map((f) => [f.quantity, f.takerFeeCents])).toEqual([[3, 3]]);
    expect(book.match(market('t4', 'taker', 'BUY', 5, 752), 50).fills.map((f) => [f.quantity, f.takerFeeCents])).toEqual([[2, 2]]);
    expect(book.get('a')!.remaining).toBe(2);
    // A budget of 0 buys nothing; the budget is ignored for SELL and for LIMIT.
    expect(book.match(market('t5', 'taker', 'BUY', 5, 0), 50).filledQuantity).toBe(0);
    const sellSide = new OrderBook([resting('b', 'm', 'BUY', 100, 5)]);
    expect(sellSide.match({ ...market('t6', 'taker', 'SELL', 5), budgetCents: 1 }, 50).filledQuantity).toBe(5);
    const limitBook = new OrderBook([resting('c', 'm', 'SELL', 100, 5)]);
    expect(limitBook.match({ ...limit('t7', 'taker', 'BUY', 5, 100), budgetCents: 1 }, 50).filledQuantity).toBe(5);
  });

  it('stops once the budget cuts a fill short, never filling the same maker twice', () => {
    // At 100 with 50 bps: 2 shares cost 201 > 200, so one fill of 1 share (100); another
    // separate 1-share fill (100 + 0) would fit in what is left, but matching stops there.
    const book = new OrderBook([resting('a', 'm', 'SELL', 100, 5), resting('b', 'n', 'SELL', 100, 5)]);
    const r = book.match(market('t', 'taker', 'BUY', 5, 200), 50);
    expect(brief(r.fills)).toEqual([['a', 100, 1]]);
    expect(book.get('a')!.remaining).toBe(4);
  });

  it('expires resting orders of the taker’s own account (expire-maker) and continues matching', () => {
    const book = new OrderBook([
      resting('own1', 'me', 'SELL', 100, 2),
      resting('other1', 'x', 'SELL', 100, 1),
      resting('own2', 'me', 'SELL', 101, 5),
      resting('other2', 'y', 'SELL', 102, 5),
      resting('own3', 'me', 'SELL', 103, 5),
    ]);
    const r = book.match(limit('t', 'me', 'BUY', 3, 102), 0);
    expect(r.expiredOrderIds).toEqual(['own1', 'own2']);
    expect(brief(r.fills)).toEqual([
      ['other1', 100, 1],
      ['other2', 102, 2],
    ]);
    expect(r.fills.every((f) => f.makerAccountId !== 'me')).toBe(true);
    expect(book.get('own1')).toBeUndefined();
    expect(book.get('own2')).toBeUndefined();
    expect(book.get('own3')).toBeDefined(); // not met: beyond the point where matching stopped
    expect(book.get('other2')!.remaining).toBe(3);

    // Only its own orders in the way: all crossing ones expire, the remainder rests.
    const book2 = new OrderBook([resting('o1', 'me', 'BUY', 100, 1), resting('o2', 'me', 'BUY', 99, 1), resting('o3', 'me', 'BUY', 90, 1)]);
    const r2 = book2.match(limit('t2', 'me', 'SELL', 2, 95), 0);
    expect(r2).toEqual({ fills: [], expiredOrderIds: ['o1', 'o2'], filledQuantity: 0, remainingQuantity: 2, rested: true });
    expect(book2.bestBid()!.id).toBe('o3');
    expect(book2.bestAsk()!.id).toBe('t2');
  });

  it('cancels a resting order by id', () => {
    const book = new OrderBook([resting('a1', 'm', 'SELL', 100, 3), resting('a2', 'm', 'SELL', 100, 2), resting('b1', 'm', 'BUY', 90, 1)]);
    const removed = book.remove('a1');
    expect(removed).toMatchObject({ id: 'a1', remaining: 3 });
    expect(book.remove('a1')).toBeNull();
    expect(book.remove('nope')).toBeNull();
    expect(book.get('a1')).toBeUndefined();
    expect(book.size).toBe(2);
    expect(book.levels('SELL', 10)).toEqual([{ priceCents: 100, quantity: 2, orders: 1 }]);
    expect(book.remove('a2')).not.toBeNull();
    expect(book.levels('SELL', 10)).toEqual([]);
    expect(book.bestAsk()).toBeUndefined();
    expect(book.match(market('t', 'taker', 'BUY', 1), 0).fills).toEqual([]);
    expect(book.bestBid()!.id).toBe('b1');
  });

  it('aggregates levels best first, up to depth', () => {
    const book = new OrderBook([
      resting('b1', 'm', 'BUY', 95, 1),
      resting('b2', 'm', 'BUY', 97, 2),
      resting('b3', 'n', 'BUY', 97, 3),
      resting('b4', 'm', 'BUY', 90, 4),
      resting('a1', 'm', 'SELL', 105, 5),
      resting('a2', 'n', 'SELL', 101, 6),
      resting('a3', 'm', 'SELL', 101, 7),
    ]);
    expect(book.levels('BUY', 10)).toEqual([
      { priceCents: 97, quantity: 5, orders: 2 },
      { priceCents: 95, quantity: 1, orders: 1 },
      { priceCents: 90, quantity: 4, orders: 1 },
    ]);
    expect(book.levels('BUY', 2)).toHaveLength(2);
    expect(book.levels('BUY', 0)).toEqual([]);
    expect(book.levels('SELL', 10)).toEqual([
      { priceCents: 101, quantity: 13, orders: 2 },
      { priceCents: 105, quantity: 5, orders: 1 },
    ]);
    book.match(limit('t', 'x', 'BUY', 8, 101), 0);
    expect(book.levels('SELL', 1)).toEqual([{ priceCents: 101, quantity: 5, orders: 1 }]);
    expect(book.bestBid()!.priceCents).toBe(97);
  });

  it('validates orders, throwing RangeError before touching the book', () => {
    const book = new OrderBook([resting('a', 'm', 'SELL', 100, 5)]);
    const bad: IncomingOrder[] = [
      limit('t', 'x', 'BUY', 0, 100),
      limit('t', 'x', 'BUY', -1, 100),
      limit('t', 'x', 'BUY', 1.5, 100),
      limit('t', 'x', 'BUY', Number.NaN, 100),
      limit('t', 'x', 'BUY', 1, 0),
      limit('t', 'x', 'BUY', 1, -100),
      limit('t', 'x', 'BUY', 1, 100.5),
      { ...limit('t', 'x', 'BUY', 1, 100), limitPriceCents: null },
      { ...limit('t', 'x', 'BUY', 1, 100), limitPriceCents: undefined },
      market('t', 'x', 'BUY', 0),
      market('t', 'x', 'BUY', 1, -1),
      market('t', 'x', 'BUY', 1, 1.5),
      { ...market('t', 'x', 'BUY', 1), type: 'STOP' as never },
      { ...market('t', 'x', 'BUY', 1), side: 'HOLD' as never },
    ];
    for (const order of bad) expect(() => book.match(order, 50), JSON.stringify(order)).toThrow(RangeError);
    expect(() => book.match(limit('t', 'x', 'BUY', 1, 100), -1)).toThrow(RangeError);
    expect(() => book.match(limit('t', 'x', 'BUY', 1, 100), 10_001)).toThrow(RangeError);
    expect(() => book.match(limit('t', 'x', 'BUY', 1, 100), 1.5)).toThrow(RangeError);
    // A fill value beyond 2^53 is refused up front, before any fill.
    const huge = new OrderBook([resting('h1', 'm', 'SELL', 1_000_000, 1), resting('h2', 'm', 'SELL', 2_000_000_000, 10)]);
    expect(() => huge.match(market('t', 'x', 'BUY', 5_000_000_000), 50)).toThrow(RangeError);
    expect(huge.get('h1')!.remaining).toBe(1);
    expect(huge.match(limit('t', 'x', 'BUY', 5_000_000_000, 1_000_000), 50).filledQuantity).toBe(1);
    // A MARKET order needs no limit price.
    expect(book.get('a')!.remaining).toBe(5);
    expect(book.match(market('ok', 'x', 'BUY', 1), 50).filledQuantity).toBe(1);
  });

  it('validates resting orders and refuses duplicates and crossing adds', () => {
    const book = new OrderBook();
    expect(() => book.add(resting('a', 'm', 'SELL', 0, 1))).toThrow(RangeError);
    expect(() => book.add(resting('a', 'm', 'SELL', 10.5, 1))).toThrow(RangeError);
    expect(() => book.add(resting('a', 'm', 'SELL', 100, 0))).toThrow(RangeError);
    expect(() => book.add(resting('a', 'm', 'SELL', 100, -2))).toThrow(RangeError);
    book.add(resting('a', 'm', 'SELL', 100, 1));
    expect(() => book.add(resting('a', 'm', 'SELL', 101, 1))).toThrow(/duplicate/);
    expect(() => book.match(limit('a', 'x', 'BUY', 1, 50), 0)).toThrow(/duplicate/);
    expect(() => book.add(resting('b', 'm', 'BUY', 100, 1))).toThrow(RangeError); // would cross
    book.add(resting('b', 'm', 'BUY', 99, 1));
    expect(() => book.add(resting('c', 'n', 'SELL', 99, 1))).toThrow(RangeError);
    expect(book.size).toBe(2);
    expect(() => new OrderBook([resting('x', 'm', 'SELL', 100, 1), resting('x', 'm', 'BUY', 90, 1)])).toThrow(/duplicate/);
  });

  it('stays flat with a large book (no whole-book scans)', () => {
    const orders: RestingOrder[] = [];
    for (let i = 0; i < 50_000; i++) {
      const buy = i % 2 === 0;
      orders.push(resting(`o${i}`, `acc${i % 7}`, buy ? 'BUY' : 'SELL', buy ? 9_999 - (i % 3000) : 10_001 + (i % 3000), 1 + (i % 5)));
    }
    const book = new OrderBook(orders);
    expect(book.size).toBe(50_000);
    const start = performance.now();
    for (let i = 0; i < 20_000; i++) {
      book.match(limit(`t${i}`, `acc${i % 7}`, i % 2 ? 'BUY' : 'SELL', 1, i % 2 ? 10_001 : 9_999), 50);
      book.remove(`t${i}`);
    }
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});
