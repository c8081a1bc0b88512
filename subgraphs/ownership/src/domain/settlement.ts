// Settlement of one placeOrder, as a pure plan: from the taker, the makers the matching engine
// met and its result, every write the execution makes — the taker's order row, each maker's
// change, balanced journal transactions, the net change of each trading account and holding,
// the trades — so the database applies it all in one statement. No I/O here.

import { FEES_ACCOUNT, balancedPostings, cashOf, reservedOf, userBalanceOf, type LedgerAccount } from './accounts.ts';
import type { Fill, MatchResult, Side } from './matching.ts';

export type OrderStatus = 'OPEN' | 'FILLED' | 'CANCELLED';

export interface TakerOrder {
  id: string;
  userId: string;
  side: Side;
  type: 'LIMIT' | 'MARKET';
  quantity: number;
  limitPriceCents: number | null;
  /** Cash reserved for a BUY when it was accepted (0 for a SELL, which reserves shares). */
  reservedCents: number;
}

/** A resting order as loaded for matching, with what settlement needs to know about it. */
export interface MakerOrder {
  id: string;
  userId: string;
  side: Side;
  priceCents: number;
  quantity: number;
  filledQuantity: number;
  /** Cash still reserved by a BUY maker. */
  reservedCents: number;
}

export interface JournalLine {
  txn: number;
  account: LedgerAccount;
  amountCents: number;
  kind: string;
}

export interface OrderChange {
  id: string;
  addFilled: number;
  addValueCents: number;
  reservedDeltaCents: number;
  status: OrderStatus;
}

export interface AccountDelta {
  userId: string;
  cashCents: number;
  reservedCents: number;
}

export interface HoldingDelta {
  userId: string;
  quantity: number;
  reserved: number;
  /** Added to the cost basis (a buyer's price and fee). */
  costAddCents: number;
  /** Shares sold: the cost basis shrinks pro rata to them. */
  sold: number;
}

export interface TradePlan {
  buyOrderId: string;
  sellOrderId: string;
  buyerId: string;
  sellerId: string;
  takerSide: Side;
  priceCents: number;
  quantity: number;
  feeCents: number;
}

/** One order's part in this execution (notifications: ownership.order.filled.v1). */
export interface OrderFillSummary {
  orderId: string;
  userId: string;
  side: Side;
  quantity: number;
  valueCents: number;
  orderQuantity: number;
  filledQuantity: number;
  fullyFilled: boolean;
}

export interface SettlementPlan {
  taker: { status: OrderStatus; filledQuantity: number; fillValueCents: number; reservedCents: number };
  makerChanges: OrderChange[];
  /** Lines grouped by `txn` (0, 1, 2 ...): each group sums to zero. */
  journal: JournalLine[];
  accounts: AccountDelta[];
  holdings: HoldingDelta[];
  trades: TradePlan[];
  filled: OrderFillSummary[];
}

/**
 * Plans the settlement of `result` (the engine's answer for `taker` against `makers`), in the
 * order the old step-by-step code applied it: the taker's reservation, the self-trade
 * expiries, each fill (with a maker leaving the book when filled), then the taker's end.
 */
export function planSettlement(taker: TakerOrder, makers: ReadonlyMap<string, MakerOrder>, result: MatchResult): SettlementPlan {
  const journal: JournalLine[] = [];
  let txn = 0;
  const post = (kind: string, postings: [LedgerAccount, number][]) => {
    const lines = balancedPostings(kind, postings);
    if (lines.length === 0) return;
    for (const [account, amountCents] of lines) journal.push({ txn, account, amountCents, kind });
    txn++;
  };
  const holdings = new Map<string, HoldingDelta>();
  const holding = (userId: string) => {
    let h = holdings.get(userId);
    if (!h) holdings.set(userId, (h = { userId, quantity: 0, reserved: 0, costAddCents: 0, sold: 0 }));
    return h;
  };
  const changes = new Map<string, OrderChange & { maker: MakerOrder; value: number; filledNow: number }>();
  const change = (maker: MakerOrder) => {
    let c = changes.get(maker.id);
    if (!c) changes.set(maker.id, (c = { id: maker.id, addFilled: 0, addValueCents: 0, reservedDeltaCents: 0, status: 'OPEN', maker, value: 0, filledNow: 0 }));
    return c;
  };
  const makerOf = (id: string) => {
    const maker = makers.get(id);
    if (!maker) throw new Error(`matched order ${id} was not loaded`);
    return maker;
  };

  // The taker's reservation.
  if (taker.side === 'BUY') {
    post('order.reserve', [
      [cashOf(taker.userId), -taker.reservedCents],
      [reservedOf(taker.userId), taker.reservedCents],
    ]);
  } else {
    holding(taker.userId).reserved += taker.quantity;
  }

  // Self-trade prevention: the taker's own resting orders end, releasing what they reserved.
  for (const id of result.expiredOrderIds) {
    const maker = makerOf(id);
    const c = change(maker);
    c.status = 'CANCELLED';
    if (maker.side === 'BUY') {
      post('order.release', [
        [reservedOf(maker.userId), -maker.reservedCents],
        [cashOf(maker.userId), maker.reservedCents],
      ]);
      c.reservedDeltaCents -= maker.reservedCents;
    } else {
      holding(maker.userId).reserved -= maker.quantity - maker.filledQuantity;
    }
  }

  const trades: TradePlan[] = [];
  let takerFilled = 0;
  let takerValue = 0;
  let takerReserved = taker.reservedCents;
  for (const fill of result.fills) {
    const maker = makerOf(fill.makerOrderId);
    const trade = tradeOf(fill);
    trades.push(trade);
    const value = fill.priceCents * fill.quantity;
    const buyerFee = fill.takerSide === 'BUY' ? fill.takerFeeCents : 0;
    const sellerFee = fill.takerSide === 'SELL' ? fill.takerFeeCents : 0;
    post('trade', [
      [reservedOf(trade.buyerId), -(value + buyerFee)],
      [cashOf(trade.sellerId), value - sellerFee],
      [FEES_ACCOUNT, fill.takerFeeCents],
    ]);
    const seller = holding(trade.sellerId);
    seller.quantity -= fill.quantity;
    seller.reserved -= fill.quantity;
    seller.sold += fill.quantity;
    const buyer = holding(trade.buyerId);
    buyer.quantity += fill.quantity;
    buyer.costAddCents += value + buyerFee;

    takerFilled += fill.quantity;
    takerValue += value;
    if (taker.side === 'BUY') takerReserved -= value + buyerFee;

    const c = change(maker);
    c.addFilled += fill.quantity;
    c.addValueCents += value;
    c.value += value;
    c.filledNow += fill.quantity;
    if (maker.side === 'BUY') c.reservedDeltaCents -= value;
    if (maker.filledQuantity + c.addFilled === maker.quantity) {
      // The maker leaves the book; a BUY maker gets back what its reservation did not spend
      // (it reserved a taker's fee it never paid).
      c.status = 'FILLED';
      if (maker.side === 'BUY') {
        const leftover = maker.reservedCents + c.reservedDeltaCents;
        post('order.release', [
          [reservedOf(maker.userId), -leftover],
          [cashOf(maker.userId), leftover],
        ]);
        c.reservedDeltaCents -= leftover;
      }
    }
  }

  // The taker: filled, resting (LIMIT remainder) or cancelled (MARKET remainder).
  const status: OrderStatus = result.remainingQuantity === 0 ? 'FILLED' : result.rested ? 'OPEN' : 'CANCELLED';
  if (status !== 'OPEN') {
    if (taker.side === 'BUY') {
      post('order.release', [
        [reservedOf(taker.userId), -takerReserved],
        [cashOf(taker.userId), takerReserved],
      ]);
      takerReserved = 0;
    } else {
      holding(taker.userId).reserved -= taker.quantity - takerFilled;
    }
  }

  const filled: OrderFillSummary[] = [];
  if (takerFilled > 0) {
    filled.push({
      orderId: taker.id,
      userId: taker.userId,
      side: taker.side,
      quantity: takerFilled,
      valueCents: takerValue,
      orderQuantity: taker.quantity,
      filledQuantity: takerFilled,
      fullyFilled: status === 'FILLED',
    });
  }
  for (const c of changes.values()) {
    if (c.filledNow === 0) continue;
    filled.push({
      orderId: c.id,
      userId: c.maker.userId,
      side: c.maker.side,
      quantity: c.filledNow,
      valueCents: c.value,
      orderQuantity: c.maker.quantity,
      filledQuantity: c.maker.filledQuantity + c.addFilled,
      fullyFilled: c.status === 'FILLED',
    });
  }

  return {
    taker: { status, filledQuantity: takerFilled, fillValueCents: takerValue, reservedCents: takerReserved },
    makerChanges: [...changes.values()].map(({ id, addFilled, addValueCents, reservedDeltaCents, status: s }) => ({
      id,
      addFilled,
      addValueCents,
      reservedDeltaCents,
      status: s,
    })),
    journal,
    accounts: netAccountChanges(journal),
    holdings: [...holdings.values()].filter((h) => h.quantity !== 0 || h.reserved !== 0 || h.costAddCents !== 0 || h.sold !== 0),
    trades,
    filled,
  };
}

function tradeOf(fill: Fill): TradePlan {
  const buyerIsTaker = fill.takerSide === 'BUY';
  return {
    buyOrderId: buyerIsTaker ? fill.takerOrderId : fill.makerOrderId,
    sellOrderId: buyerIsTaker ? fill.makerOrderId : fill.takerOrderId,
    buyerId: buyerIsTaker ? fill.takerAccountId : fill.makerAccountId,
    sellerId: buyerIsTaker ? fill.makerAccountId : fill.takerAccountId,
    takerSide: fill.takerSide,
    priceCents: fill.priceCents,
    quantity: fill.quantity,
    feeCents: fill.takerFeeCents,
  };
}

/** The net change of each user's cash and reserved balance, in user id order (a stable lock order). */
export function netAccountChanges(journal: readonly JournalLine[]): AccountDelta[] {
  const byUser = new Map<string, AccountDelta>();
  for (const line of journal) {
    const user = userBalanceOf(line.account);
    if (!user) continue;
    let delta = byUser.get(user.userId);
    if (!delta) byUser.set(user.userId, (delta = { userId: user.userId, cashCents: 0, reservedCents: 0 }));
    if (user.balance === 'cash') delta.cashCents += line.amountCents;
    else delta.reservedCents += line.amountCents;
  }
  return [...byUser.values()]
    .filter((d) => d.cashCents !== 0 || d.reservedCents !== 0)
    .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}
