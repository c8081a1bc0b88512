// Property-based tests of placeOrder's settlement plan: random uncrossed books of several
// accounts, a random incoming order, the engine's match, then the plan's money, shares and
// reservations checked against what the orders hold.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { takerFee } from '../src/domain/fees.ts';
import { OrderBook, type Side } from '../src/domain/matching.ts';
import { FEES_ACCOUNT } from '../src/domain/accounts.ts';
import { planSettlement, type MakerOrder, type TakerOrder } from '../src/domain/settlement.ts';

const RUNS = Number(process.env.MATCHING_PROPERTY_RUNS ?? 250);
const FEE_BPS = 50;
const users = [
  '00000000-0000-4000-8000-000000000001',
  '00000000-0000-4000-8000-000000000002',
  '00000000-0000-4000-8000-000000000003',
  '00000000-0000-4000-8000-000000000004',
];

const restingArb = fc.record({
  user: fc.integer({ min: 0, max: users.length - 1 }),
  side: fc.constantFrom<Side>('BUY', 'SELL'),
  offset: fc.integer({ min: 1, max: 12 }),
  quantity: fc.integer({ min: 1, max: 20 }),
  filled: fc.integer({ min: 0, max: 19 }),
});
const takerArb = fc.record({
  user: fc.integer({ min: 0, max: users.length - 1 }),
  side: fc.constantFrom<Side>('BUY', 'SELL'),
  type: fc.constantFrom<'LIMIT' | 'MARKET'>('LIMIT', 'LIMIT', 'MARKET'),
  price: fc.integer({ min: 88, max: 112 }),
  quantity: fc.integer({ min: 1, max: 60 }),
  cash: fc.integer({ min: 0, max: 20_000 }),
});

/** An uncrossed book around 100 cents: bids at 100 - offset, asks at 100 + offset. */
type Resting = { user: number; side: Side; offset: number; quantity: number; filled: number };
type Taker = { user: number; side: Side; type: 'LIMIT' | 'MARKET'; price: number; quantity: number; cash: number };

function scenario(resting: Resting[], t: Taker) {
  const makers = new Map<string, MakerOrder>();
  resting.forEach((r, i) => {
    const price = r.side === 'BUY' ? 100 - r.offset : 100 + r.offset;
    const quantity = r.quantity;
    const filled = Math.min(r.filled, quantity - 1);
    const remaining = quantity - filled;
    // A BUY maker still holds its limit value plus the taker fee it reserved at placement.
    const reservedCents = r.side === 'BUY' ? remaining * price + takerFee(quantity * price, FEE_BPS) : 0;
    makers.set(`00000000-0000-4000-9000-${String(i).padStart(12, '0')}`, {
      id: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
      userId: users[r.user]!,
      side: r.side,
      priceCents: price,
      quantity,
      filledQuantity: filled,
      reservedCents,
    });
  });
  const book = new OrderBook(
    [...makers.values()].map((m, i) => ({
      id: m.id,
      accountId: m.userId,
      side: m.side,
      priceCents: m.priceCents,
      remaining: m.quantity - m.filledQuantity,
      seq: i + 1,
    })),
  );
  const limit = t.type === 'LIMIT' ? t.price : null;
  const reservedCents = t.side === 'SELL' ? 0 : t.type === 'LIMIT' ? t.quantity * limit! + takerFee(t.quantity * limit!, FEE_BPS) : t.cash;
  const taker: TakerOrder = {
    id: '00000000-0000-4000-a000-000000000000',
    userId: users[t.user]!,
    side: t.side,
    type: t.type,
    quantity: t.quantity,
    limitPriceCents: limit,
    reservedCents,
  };
  return { makers, book, taker };
}

describe('settlement plan', () => {
  it('balances every journal transaction and conserves cash, shares and reservations', () => {
    fc.assert(
      fc.property(fc.array(restingArb, { maxLength: 30 }), takerArb, (resting, t) => {
        const { makers, book, taker } = scenario(resting, t);
        if (taker.side === 'BUY' && taker.reservedCents === 0) return;
        const result = book.match(
          {
            id: taker.id,
            accountId: taker.userId,
            side: taker.side,
            type: taker.type,
            quantity: taker.quantity,
            limitPriceCents: taker.limitPriceCents,
            budgetCents: taker.type === 'MARKET' && taker.side === 'BUY' ? taker.reservedCents : null,
            seq: 10_000,
          },
          FEE_BPS,
        );
        const plan = planSettlement(taker, makers, result);

        const byTxn = new Map<number, number>();
        for (const line of plan.journal) byTxn.set(line.txn, (byTxn.get(line.txn) ?? 0) + line.amountCents);
        for (const sum of byTxn.values()) expect(sum).toBe(0);

        // Cash only moves between users' accounts and the fee account.
        const fees = plan.journal.filter((l) => l.account === FEES_ACCOUNT).reduce((s, l) => s + l.amountCents, 0);
        expect(fees).toBe(result.fills.reduce((s, f) => s + f.takerFeeCents, 0));
        expect(plan.accounts.reduce((s, a) => s + a.cashCents + a.reservedCents, 0) + fees).toBe(0);
        // Shares only move between holders.
        expect(plan.holdings.reduce((s, h) => s + h.quantity, 0)).toBe(0);
        expect(plan.trades.reduce((s, tr) => s + tr.quantity, 0)).toBe(result.filledQuantity);

        // Reservations: every order that ended holds nothing; every open one holds what it needs.
        for (const change of plan.makerChanges) {
          const maker = makers.get(change.id)!;
          if (maker.side !== 'BUY') continue;
          const left = maker.reservedCents + change.reservedDeltaCents;
          if (change.status === 'OPEN') expect(left).toBeGreaterThanOrEqual((maker.quantity - maker.filledQuantity - change.addFilled) * maker.priceCents);
          else expect(left).toBe(0);
        }
        if (plan.taker.status !== 'OPEN') expect(plan.taker.reservedCents).toBe(0);
        else if (taker.side === 'BUY') expect(plan.taker.reservedCents).toBeGreaterThanOrEqual(result.remainingQuantity * taker.limitPriceCents!);
        // Reserved shares: a resting SELL taker keeps its remainder reserved; sellers' fills release theirs.
        const reservedShares = plan.holdings.reduce((s, h) => s + h.reserved, 0);
        const expiredSells = result.expiredOrderIds.map((id) => makers.get(id)!).filter((m) => m.side === 'SELL');
        const expected =
          (taker.side === 'SELL' && plan.taker.status === 'OPEN' ? result.remainingQuantity : 0) -
          (taker.side === 'BUY' ? result.filledQuantity : 0) -
          expiredSells.reduce((s, m) => s + m.quantity - m.filledQuantity, 0);
        expect(reservedShares).toBe(expected);

        // One order.filled per order that traded, with the quantities that add up.
        const filledNow = plan.filled.reduce((s, f) => s + f.quantity, 0);
        expect(filledNow).toBe(2 * result.filledQuantity);
      }),
      { numRuns: RUNS },
    );
  });
});
