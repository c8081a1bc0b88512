// Property-based tests of the matching engine: random sequences of add / match / remove on
// several accounts, checked for conservation, an uncrossed book, no self-trades, limits,
// level aggregation, and fill-for-fill equality with a naive reference implementation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { takerFee } from '../src/domain/fees.ts';
import { OrderBook, type Fill, type IncomingOrder, type MatchResult, type RestingOrder, type Side } from '../src/domain/matching.ts';

// MATCHING_PROPERTY_RUNS=5000 for a longer hunt.
const RUNS = Number(process.env.MATCHING_PROPERTY_RUNS ?? 250);

// ---------------------------------------------------------------------------------------
// A naive reference: one array of resting orders, sorted again for every step.

class ReferenceBook {
  orders: RestingOrder[] = [];

  private sorted(side: Side): RestingOrder[] {
    // Best first: bids high to low, asks low to high; then seq; Array.sort is stable, so
    // equal seqs keep insertion order.
    return this.orders
      .filter((o) => o.side === side)
      .sort((a, b) => (side === 'BUY' ? b.priceCents - a.priceCents : a.priceCents - b.priceCents) || a.seq - b.seq);
  }

  sideOrders(side: Side): RestingOrder[] {
    return this.sorted(side);
  }

  /** Returns false (and changes nothing) when the order would cross the book. */
  add(order: RestingOrder): boolean {
    const bestOpp = this.sorted(order.side === 'BUY' ? 'SELL' : 'BUY')[0];
    if (bestOpp && (order.side === 'BUY' ? order.priceCents >= bestOpp.priceCents : order.priceCents <= bestOpp.priceCents)) return false;
    this.orders.push(order);
    return true;
  }

  remove(id: string): RestingOrder | null {
    const i = this.orders.findIndex((o) => o.id === id);
    if (i < 0) return null;
    return this.orders.splice(i, 1)[0]!;
  }

  match(incoming: IncomingOrder, feeBps: number): MatchResult {
    const fills: Fill[] = [];
    const expiredOrderIds: string[] = [];
    let remaining = incoming.quantity;
    const opposite: Side = incoming.side === 'BUY' ? 'SELL' : 'BUY';
    const withBudget = incoming.side === 'BUY' && incoming.type === 'MARKET' && incoming.budgetCents != null;
    let budget = incoming.budgetCents ?? 0;
    while (remaining > 0) {
      const best = this.sorted(opposite)[0];
      if (!best) break;
      if (incoming.type === 'LIMIT') {
        const lim = incoming.limitPriceCents!;
        if (incoming.side === 'BUY' ? best.priceCents > lim : best.priceCents < lim) break;
      }
      if (best.accountId === incoming.accountId) {
        this.remove(best.id);
        expiredOrderIds.push(best.id);
        continue;
      }
      const wanted = Math.min(remaining, best.remaining);
      let q = wanted;
      if (withBudget) {
        while (q > 0 && q * best.priceCents + takerFee(q * best.priceCents, feeBps) > budget) q--;
        if (q === 0) break;
      }
      const fee = takerFee(q * best.priceCents, feeBps);
      if (withBudget) budget -= q * best.priceCents + fee;
      fills.push({
        makerOrderId: best.id,
        makerAccountId: best.accountId,
        takerOrderId: incoming.id,
        takerAccountId: incoming.accountId,
        takerSide: incoming.side,
        priceCents: best.priceCents,
        quantity: q,
        takerFeeCents: fee,
      });
      remaining -= q;
      best.remaining -= q;
      if (best.remaining === 0) this.remove(best.id);
      if (q < wanted) break; // the budget cut this fill short
    }
    const rested = incoming.type === 'LIMIT' && remaining > 0;
    if (rested) {
      this.orders.push({
        id: incoming.id,
        accountId: incoming.accountId,
        side: incoming.side,
        priceCents: incoming.limitPriceCents!,
        remaining,
        seq: incoming.seq,
      });
    }
    return { fills, expiredOrderIds, filledQuantity: incoming.quantity - remaining, remainingQuantity: remaining, rested };
  }
}

// ---------------------------------------------------------------------------------------
// Random operations

const ACCOUNTS = ['alice', 'bob', 'carol', 'dave'];

type Op =
  | { kind: 'add'; account: number; side: Side; price: number; quantity: number; earlierSeq: number | null }
  | {
      kind: 'match';
      account: number;
      side: Side;
      type: 'LIMIT' | 'MARKET';
      price: number;
      quantity: number;
      budget: number | null;
      feeBps: number;
    }
  | { kind: 'remove'; pick: number };

const sideArb = fc.constantFrom<Side>('BUY', 'SELL');
// Prices in a narrow band so that orders meet often; quantities mostly small, sometimes large.
const priceArb = fc.integer({ min: 90, max: 110 });
const quantityArb = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 20 }), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 3000 }), weight: 1 });
const feeArb = fc.oneof(fc.constantFrom(0, 1, 50, 333, 9_999, 10_000), fc.integer({ min: 0, max: 10_000 }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      account: fc.nat(ACCOUNTS.length - 1),
      side: sideArb,
      price: priceArb,
      quantity: quantityArb,
      earlierSeq: fc.option(fc.nat(50), { freq: 4 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('match' as const),
      account: fc.nat(ACCOUNTS.length - 1),
      side: sideArb,
      type: fc.constantFrom<'LIMIT' | 'MARKET'>('LIMIT', 'LIMIT', 'MARKET'),
      price: priceArb,
      quantity: quantityArb,
      budget: fc.option(fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 500_000 })), { freq: 3 }),
      feeBps: feeArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
);

const opsArb = fc.array(opArb, { minLength: 1, maxLength: 120 });

/** What one step did, handed to the property being checked. */
interface Step {
  op: Op;
  book: OrderBook;
  /** Remaining of every resting order before the step. */
  before: Map<string, number>;
  incoming?: IncomingOrder;
  result?: MatchResult;
  reference?: MatchResult;
}

const snapshot = (book: OrderBook): Map<string, number> => new Map([...book.orders('BUY'), ...book.orders('SELL')].map((o) => [o.id, o.remaining]));

/** Runs the operations on the engine and on the reference, calling `check` after each step. */
function run(ops: Op[], check: (step: Step, ref: ReferenceBook) => void): void {
  const book = new OrderBook();
  const ref = new ReferenceBook();
  const ids: string[] = [];
  let seq = 1000; // room below for orders added with an earlier seq
  let n = 0;
  for (const op of ops) {
    const before = snapshot(book);
    const step: Step = { op, book, before };
    if (op.kind === 'add') {
      const id = `r${++n}`;
      const order: RestingOrder = {
        id,
        accountId: ACCOUNTS[op.account]!,
        side: op.side,
        priceCents: op.price,
        remaining: op.quantity,
        seq: op.earlierSeq === null ? ++seq : 1000 - op.earlierSeq,
      };
      const accepted = ref.add({ ...order });
      if (accepted) book.add(order);
      else expect(() => book.add(order)).toThrow(RangeError);
      ids.push(id);
    } else if (op.kind === 'match') {
      const incoming: IncomingOrder = {
        id: `t${++n}`,
        accountId: ACCOUNTS[op.account]!,
        side: op.side,
        type: op.type,
        quantity: op.quantity,
        limitPriceCents: op.type === 'LIMIT' ? op.price : null,
        budgetCents: op.budget,
        seq: ++seq,
      };
      step.incoming = incoming;
      step.result = book.match(incoming, op.feeBps);
      step.reference = ref.match(incoming, op.feeBps);
      ids.push(incoming.id);
    } else {
      // Mostly ids that exist or existed, sometimes one that never did.
      const id = ids.length > 0 && op.pick % 10 !== 0 ? ids[op.pick % ids.length]! : `missing${op.pick}`;
      const got = book.remove(id);
      const expected = ref.remove(id);
      expect(got === null ? null : { id: got.id, remaining: got.remaining }).toEqual(
        expected === null ? null : { id: expected.id, remaining: expected.remaining },
      );
    }
    check(step, ref);
  }
}

const property = (check: (step: Step, ref: ReferenceBook) => void) =>
  fc.assert(
    fc.property(opsArb, (ops) => run(ops, check)),
    { numRuns: RUNS },
  );

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('matching engine properties', () => {
  it('conserves quantity, shares and cash in every match', () => {
    property(({ op, book, before, incoming, result }) => {
      if (!incoming || !result || op.kind !== 'match') return;
      const filled = sum(result.fills.map((f) => f.quantity));
      expect(filled).toBe(result.filledQuantity);
      expect(filled + result.remainingQuantity).toBe(incoming.quantity);
      expect(result.rested).toBe(incoming.type === 'LIMIT' && result.remainingQuantity > 0);
      expect(book.get(incoming.id)?.remaining).toBe(result.rested ? result.remainingQuantity : undefined);

      // Each maker lost exactly what it was filled for; expired makers left without a fill;
      // nobody else changed.
      const filledByMaker = new Map<string, number>();
      for (const f of result.fills) filledByMaker.set(f.makerOrderId, (filledByMaker.get(f.makerOrderId) ?? 0) + f.quantity);
      const expired = new Set(result.expiredOrderIds);
      for (const [id, was] of before) {
        const now = book.get(id)?.remaining ?? 0;
        if (expired.has(id)) {
          expect(filledByMaker.has(id)).toBe(false);
          expect(book.get(id)).toBeUndefined();
        } else {
          expect(was - now).toBe(filledByMaker.get(id) ?? 0);
        }
      }
      for (const id of filledByMaker.keys()) expect(before.has(id)).toBe(true);

      // Shares and cash between buyers and sellers (the taker pays the fee).
      let bought = 0;
      let sold = 0;
      let paid = 0;
      let received = 0;
      let fees = 0;
      for (const f of result.fills) {
        const value = f.priceCents * f.quantity;
        expect(f.takerFeeCents).toBe(takerFee(value, op.feeBps));
        bought += f.quantity;
        sold += f.quantity;
        paid += value + (f.takerSide === 'BUY' ? f.takerFeeCents : 0);
        received += value - (f.takerSide === 'SELL' ? f.takerFeeCents : 0);
        fees += f.takerFeeCents;
      }
      expect(bought).toBe(sold);
      expect(paid).toBe(received + fees);

      // A MARKET BUY with a budget never spends more than it (fees included).
      if (incoming.side === 'BUY' && incoming.type === 'MARKET' && incoming.budgetCents != null) {
        expect(sum(result.fills.map((f) => f.priceCents * f.quantity + f.takerFeeCents))).toBeLessThanOrEqual(incoming.budgetCents);
      }
    });
  });

  it('never leaves the book crossed', () => {
    property(({ book }) => {
      const bid = book.bestBid();
      const ask = book.bestAsk();
      if (bid && ask) expect(bid.priceCents).toBeLessThan(ask.priceCents);
    });
  });

  it('never fills between orders of the same account', () => {
    property(({ result }) => {
      for (const f of result?.fills ?? []) expect(f.makerAccountId).not.toBe(f.takerAccountId);
    });
  });

  it("fills within the taker's limit, at the maker's price", () => {
    property(({ incoming, result, before }) => {
      if (!incoming || !result) return;
      for (const f of result.fills) {
        if (incoming.type === 'LIMIT') {
          if (incoming.side === 'BUY') expect(f.priceCents).toBeLessThanOrEqual(incoming.limitPriceCents!);
          else expect(f.priceCents).toBeGreaterThanOrEqual(incoming.limitPriceCents!);
        }
        expect(before.has(f.makerOrderId)).toBe(true);
      }
      // Prices never improve for the taker as matching walks the book.
      for (let i = 1; i < result.fills.length; i++) {
        const [prev, cur] = [result.fills[i - 1]!.priceCents, result.fills[i]!.priceCents];
        if (incoming.side === 'BUY') expect(cur).toBeGreaterThanOrEqual(prev);
        else expect(cur).toBeLessThanOrEqual(prev);
      }
    });
  });

  it('aggregates levels that add up to the resting orders', () => {
    property(({ book }) => {
      let count = 0;
      for (const side of ['BUY', 'SELL'] as const) {
        const orders = book.orders(side);
        const levels = book.levels(side, 1_000_000);
        expect(sum(levels.map((l) => l.quantity))).toBe(sum(orders.map((o) => o.remaining)));
        expect(sum(levels.map((l) => l.orders))).toBe(orders.length);
        // Per level, best first, distinct prices.
        const expected = new Map<number, { quantity: number; orders: number }>();
        for (const o of orders) {
          const e = expected.get(o.priceCents) ?? { quantity: 0, orders: 0 };
          e.quantity += o.remaining;
          e.orders += 1;
          expected.set(o.priceCents, e);
        }
        expect(levels).toEqual([...expected].map(([priceCents, e]) => ({ priceCents, ...e })));
        for (let i = 1; i < levels.length; i++) {
          if (side === 'BUY') expect(levels[i]!.priceCents).toBeLessThan(levels[i - 1]!.priceCents);
          else expect(levels[i]!.priceCents).toBeGreaterThan(levels[i - 1]!.priceCents);
        }
        expect(book.levels(side, 2)).toEqual(levels.slice(0, 2));
        for (const o of orders) expect(o.remaining).toBeGreaterThan(0);
        count += orders.length;
      }
      expect(book.size).toBe(count);
    });
  });

  it('produces the same fills and the same book as a naive reference implementation', () => {
    property(({ book, result, reference }, ref) => {
      if (result) expect(result).toEqual(reference);
      for (const side of ['BUY', 'SELL'] as const) {
        expect(book.orders(side).map((o) => [o.id, o.remaining])).toEqual(ref.sideOrders(side).map((o) => [o.id, o.remaining]));
      }
    });
  });

  it('buys the largest affordable quantity under a budget, for large values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1e12 }),
        feeArb,
        (price, available, budget, feeBps) => {
          const book = new OrderBook([{ id: 'a', accountId: 'm', side: 'SELL', priceCents: price, remaining: available, seq: 1 }]);
          const r = book.match({ id: 't', accountId: 'x', side: 'BUY', type: 'MARKET', quantity: 1_000_000, budgetCents: budget, seq: 2 }, feeBps);
          const q = r.filledQuantity;
          const cost = (n: number) => {
            const v = BigInt(n) * BigInt(price);
            return v + (v * BigInt(feeBps)) / 10_000n; // fees round down
          };
          expect(cost(q) <= BigInt(budget)).toBe(true);
          if (q < available) expect(cost(q + 1) > BigInt(budget)).toBe(true);
          if (q > 0) expect(r.fills[0]!.takerFeeCents).toBe(Number(cost(q) - BigInt(q) * BigInt(price)));
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
