// The matching engine: pure, no I/O. Price-time priority, LIMIT and MARKET, partial fills,
// trades at the resting order's price, self-trade prevention (expire the resting order),
// taker fee in basis points. (Interface fixed here; implementation below.)

import { MAX_FEE_BPS, takerFee } from './fees.ts';

export type Side = 'BUY' | 'SELL';
export type OrderType = 'LIMIT' | 'MARKET';

/** An order resting in the book. `seq` orders time priority (lower = earlier). */
export interface RestingOrder {
  id: string;
  accountId: string;
  side: Side;
  priceCents: number;
  remaining: number;
  seq: number;
}

export interface IncomingOrder {
  id: string;
  accountId: string;
  side: Side;
  type: OrderType;
  quantity: number;
  /** Required for LIMIT, ignored for MARKET. */
  limitPriceCents?: number | null;
  /**
   * For a MARKET BUY: the most it may spend, fees included (its available cash).
   * Matching stops before a fill whose value plus fee would exceed it.
   */
  budgetCents?: number | null;
  seq: number;
}

export interface Fill {
  makerOrderId: string;
  makerAccountId: string;
  takerOrderId: string;
  takerAccountId: string;
  /** Buyer's side is the taker's when the taker buys. */
  takerSide: Side;
  priceCents: number;
  quantity: number;
  /** Paid by the taker: takerFee(priceCents * quantity, feeBps). */
  takerFeeCents: number;
}

export interface MatchResult {
  fills: Fill[];
  /** Resting orders of the taker's own account removed by self-trade prevention. */
  expiredOrderIds: string[];
  filledQuantity: number;
  /** What is left of the taker's quantity: rests for LIMIT, is cancelled for MARKET. */
  remainingQuantity: number;
  /** True when the remainder now rests in the book (LIMIT only). */
  rested: boolean;
}

// ---------------------------------------------------------------------------------------
// Implementation
//
// Each side of the book keeps its distinct prices in a sorted array of "keys" (price for
// bids, -price for asks) in ascending order, so the best level is always the LAST element:
// taking the best level is O(1), removing it is a pop(), and a new level goes in by binary
// search (near the top of the book in practice, so the splice moves few elements). Each
// price level is a doubly linked FIFO list of nodes in seq order, with its order count and
// total quantity kept up to date, and a Map id -> node gives O(1) cancel. Matching touches
// only the orders it fills or expires; nothing scans the whole book.

interface OrderNode {
  order: RestingOrder;
  level: PriceLevel;
  prev: OrderNode | null;
  next: OrderNode | null;
}

interface PriceLevel {
  priceCents: number;
  /** priceCents for bids, -priceCents for asks: higher key = better. */
  key: number;
  head: OrderNode | null;
  tail: OrderNode | null;
  orders: number;
  quantity: number;
}

/** One side of the book. */
class BookSide {
  readonly isBid: boolean;
  /** Keys of the levels, ascending: the best level is last. */
  readonly keys: number[] = [];
  readonly levelsByKey = new Map<number, PriceLevel>();

  constructor(isBid: boolean) {
    this.isBid = isBid;
  }

  best(): PriceLevel | undefined {
    const n = this.keys.length;
    return n === 0 ? undefined : this.levelsByKey.get(this.keys[n - 1]!);
  }

  /** Appends the node to its level (creating the level), keeping seq order within it. */
  insert(order: RestingOrder): OrderNode {
    const key = this.isBid ? order.priceCents : -order.priceCents;
    let level = this.levelsByKey.get(key);
    if (level === undefined) {
      level = { priceCents: order.priceCents, key, head: null, tail: null, orders: 0, quantity: 0 };
      this.levelsByKey.set(key, level);
      const keys = this.keys;
      // Binary search for the first key greater than `key`.
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (keys[mid]! < key) lo = mid + 1;
        else hi = mid;
      }
      if (lo === keys.length) keys.push(key);
      else keys.splice(lo, 0, key);
    }
    const node: OrderNode = { order, level, prev: null, next: null };
    // Usually the newest order: it goes at the tail. Otherwise walk back to its seq place
    // (after every order with seq <= its own, so equal seqs keep insertion order).
    let after = level.tail;
    while (after !== null && after.order.seq > order.seq) after = after.prev;
    if (after === null) {
      node.next = level.head;
      if (level.head !== null) level.head.prev = node;
      else level.tail = node;
      level.head = node;
    } else {
      node.prev = after;
      node.next = after.next;
      if (after.next !== null) after.next.prev = node;
      else level.tail = node;
      after.next = node;
    }
    level.orders += 1;
    level.quantity += order.remaining;
    return node;
  }

  /** Unlinks the node; drops its level when it empties. */
  unlink(node: OrderNode): void {
    const level = node.level;
    if (node.prev !== null) node.prev.next = node.next;
    else level.head = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else level.tail = node.prev;
    node.prev = null;
    node.next = null;
    level.orders -= 1;
    level.quantity -= node.order.remaining;
    if (level.orders === 0) this.dropLevel(level);
  }

  private dropLevel(level: PriceLevel): void {
    this.levelsByKey.delete(level.key);
    const keys = this.keys;
    const last = keys.length - 1;
    if (keys[last] === level.key) {
      keys.pop(); // the usual case: the best level was consumed
      return;
    }
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < level.key) lo = mid + 1;
      else hi = mid;
    }
    keys.splice(lo, 1);
  }

  levels(depth: number): { priceCents: number; quantity: number; orders: number }[] {
    const out: { priceCents: number; quantity: number; orders: number }[] = [];
    const keys = this.keys;
    for (let i = keys.length - 1; i >= 0 && out.length < depth; i--) {
      const level = this.levelsByKey.get(keys[i]!)!;
      out.push({ priceCents: level.priceCents, quantity: level.quantity, orders: level.orders });
    }
    return out;
  }
}

const isPositiveInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/** Value plus taker fee of `quantity` shares at `priceCents`. */
const costWithFee = (quantity: number, priceCents: number, feeBps: number): number => {
  const value = quantity * priceCents;
  return value + takerFee(value, feeBps);
};

/**
 * The largest q <= maxQuantity with q * price + takerFee(q * price) <= budget (0 if none).
 * The cost is increasing in q; a floating estimate is corrected with exact integer checks.
 */
function affordableQuantity(maxQuantity: number, priceCents: number, budgetCents: number, feeBps: number): number {
  if (costWithFee(maxQuantity, priceCents, feeBps) <= budgetCents) return maxQuantity;
  let q = Math.floor((budgetCents * MAX_FEE_BPS) / ((MAX_FEE_BPS + feeBps) * priceCents));
  if (q >= maxQuantity) q = maxQuantity - 1;
  if (q < 0) q = 0;
  while (q > 0 && costWithFee(q, priceCents, feeBps) > budgetCents) q--;
  while (q + 1 < maxQuantity && costWithFee(q + 1, priceCents, feeBps) <= budgetCents) q++;
  return q;
}

function validateResting(order: RestingOrder): void {
  if (typeof order.id !== 'string' || order.id === '') throw new RangeError('order id must be a non-empty string');
  if (typeof order.accountId !== 'string' || order.accountId === '') throw new RangeError(`order ${order.id}: accountId must be a non-empty string`);
  if (order.side !== 'BUY' && order.side !== 'SELL') throw new RangeError(`order ${order.id}: side must be BUY or SELL`);
  if (!isPositiveInt(order.priceCents)) throw new RangeError(`order ${order.id}: priceCents must be a positive integer, got ${order.priceCents}`);
  if (!isPositiveInt(order.remaining)) throw new RangeError(`order ${order.id}: remaining must be a positive integer, got ${order.remaining}`);
  if (typeof order.seq !== 'number' || !Number.isFinite(order.seq)) throw new RangeError(`order ${order.id}: seq must be a finite number`);
}

function validateIncoming(incoming: IncomingOrder, takerFeeBps: number): void {
  if (typeof incoming.id !== 'string' || incoming.id === '') throw new RangeError('order id must be a non-empty string');
  if (typeof incoming.accountId !== 'string' || incoming.accountId === '') throw new RangeError('accountId must be a non-empty string');
  if (incoming.side !== 'BUY' && incoming.side !== 'SELL') throw new RangeError('side must be BUY or SELL');
  if (incoming.type !== 'LIMIT' && incoming.type !== 'MARKET') throw new RangeError('type must be LIMIT or MARKET');
  if (!isPositiveInt(incoming.quantity)) throw new RangeError(`quantity must be a positive integer, got ${incoming.quantity}`);
  if (incoming.type === 'LIMIT' && !isPositiveInt(incoming.limitPriceCents)) {
    throw new RangeError(`limitPriceCents must be a positive integer for a LIMIT order, got ${incoming.limitPriceCents}`);
  }
  const budget = incoming.budgetCents;
  if (budget !== undefined && budget !== null && (!Number.isSafeInteger(budget) || budget < 0)) {
    throw new RangeError(`budgetCents must be a non-negative integer, got ${budget}`);
  }
  if (typeof incoming.seq !== 'number' || !Number.isFinite(incoming.seq)) throw new RangeError('seq must be a finite number');
  if (!Number.isInteger(takerFeeBps) || takerFeeBps < 0 || takerFeeBps > MAX_FEE_BPS) {
    throw new RangeError(`takerFeeBps must be an integer in 0..${MAX_FEE_BPS}, got ${takerFeeBps}`);
  }
}

/**
 * An in-memory order book for one song. The book keeps (and mutates) the RestingOrder
 * objects it is given: a partial fill lowers `remaining` on the caller's object.
 * Invariant: the book is never crossed (best bid < best ask); `add` refuses an order that
 * would cross it, since only `match` may take liquidity.
 */
export class OrderBook {
  private readonly bids = new BookSide(true);
  private readonly asks = new BookSide(false);
  private readonly nodes = new Map<string, OrderNode>();

  /** Builds the book from resting orders given in any order (time priority comes from seq). */
  constructor(orders?: RestingOrder[]) {
    if (orders === undefined || orders.length === 0) return;
    // Adding in seq order puts each order at the tail of its level: O(1) per order.
    const sorted = [...orders].sort((a, b) => a.seq - b.seq);
    for (const order of sorted) this.add(order);
  }

  /**
   * Rests an order. Throws an Error on a duplicate id, a RangeError on an invalid order or
   * one that would cross the book (a BUY at or above the best ask, a SELL at or below the best bid).
   */
  add(order: RestingOrder): void {
    validateResting(order);
    if (this.nodes.has(order.id)) throw new Error(`duplicate order id ${order.id}`);
    if (order.side === 'BUY') {
      const ask = this.asks.best();
      if (ask !== undefined && order.priceCents >= ask.priceCents) {
        throw new RangeError(`order ${order.id}: a BUY at ${order.priceCents} would cross the best ask ${ask.priceCents}`);
      }
      this.nodes.set(order.id, this.bids.insert(order));
    } else {
      const bid = this.bids.best();
      if (bid !== undefined && order.priceCents <= bid.priceCents) {
        throw new RangeError(`order ${order.id}: a SELL at ${order.priceCents} would cross the best bid ${bid.priceCents}`);
      }
      this.nodes.set(order.id, this.asks.insert(order));
    }
  }

  /** Cancels a resting order: returns it (with its current remaining), or null if unknown. */
  remove(orderId: string): RestingOrder | null {
    const node = this.nodes.get(orderId);
    if (node === undefined) return null;
    this.nodes.delete(orderId);
    (node.order.side === 'BUY' ? this.bids : this.asks).unlink(node);
    return node.order;
  }

  get(orderId: string): RestingOrder | undefined {
    return this.nodes.get(orderId)?.order;
  }

  get size(): number {
    return this.nodes.size;
  }

  bestBid(): RestingOrder | undefined {
    return this.bids.best()?.head?.order;
  }

  bestAsk(): RestingOrder | undefined {
    return this.asks.best()?.head?.order;
  }

  /** Aggregated levels best first: bids highest price first, asks lowest first. */
  levels(side: Side, depth: number): { priceCents: number; quantity: number; orders: number }[] {
    if (!Number.isInteger(depth) || depth < 0) throw new RangeError(`depth must be a non-negative integer, got ${depth}`);
    return (side === 'BUY' ? this.bids : this.asks).levels(depth);
  }

  /** Every resting order of one side, best first (price, then seq). O(orders on that side). */
  orders(side: Side): RestingOrder[] {
    const bookSide = side === 'BUY' ? this.bids : this.asks;
    const out: RestingOrder[] = [];
    for (let i = bookSide.keys.length - 1; i >= 0; i--) {
      for (let n = bookSide.levelsByKey.get(bookSide.keys[i]!)!.head; n !== null; n = n.next) out.push(n.order);
    }
    return out;
  }

  /**
   * Matches an incoming order against the book, mutating it: fills makers (removing fully
   * filled ones), expires same-account resting orders met while matching (self-trade
   * prevention: expire-maker), and rests a LIMIT remainder. MARKET never rests.
   * Throws a RangeError on invalid input and an Error when the id already rests in the
   * book, both before touching the book.
   */
  match(incoming: IncomingOrder, takerFeeBps: number): MatchResult {
    validateIncoming(incoming, takerFeeBps);
    if (this.nodes.has(incoming.id)) throw new Error(`duplicate order id ${incoming.id}`);

    const buying = incoming.side === 'BUY';
    const opposite = buying ? this.asks : this.bids;
    const isLimit = incoming.type === 'LIMIT';
    const limit = isLimit ? (incoming.limitPriceCents as number) : 0;
    // Every fill's value (quantity * price) must be a safe integer. Check it once, before
    // touching the book, against the highest price this order could trade at.
    const keys = opposite.keys;
    if (keys.length > 0) {
      let highest = buying ? -keys[0]! : keys[keys.length - 1]!;
      if (buying && isLimit && limit < highest) highest = limit;
      if (!Number.isSafeInteger(incoming.quantity * highest)) {
        throw new RangeError(`quantity ${incoming.quantity} at up to ${highest} cents exceeds the safe integer range`);
      }
    }
    const hasBudget = buying && !isLimit && incoming.budgetCents !== undefined && incoming.budgetCents !== null;
    let budget = hasBudget ? (incoming.budgetCents as number) : 0;
    const takerId = incoming.id;
    const takerAccountId = incoming.accountId;
    const takerSide = incoming.side;

    const fills: Fill[] = [];
    const expiredOrderIds: string[] = [];
    let remaining = incoming.quantity;

    while (remaining > 0) {
      const level = opposite.best();
      if (level === undefined) break;
      const price = level.priceCents;
      if (isLimit && (buying ? price > limit : price < limit)) break;
      const node = level.head!;
      const maker = node.order;

      if (maker.accountId === takerAccountId) {
        // Self-trade prevention: expire the resting order and go on with the next one.
        this.nodes.delete(maker.id);
        opposite.unlink(node);
        expiredOrderIds.push(maker.id);
        continue;
      }

      const wanted = remaining < maker.remaining ? remaining : maker.remaining;
      let quantity = wanted;
      if (hasBudget) {
        quantity = affordableQuantity(wanted, price, budget, takerFeeBps);
        if (quantity === 0) break; // prices only get worse from here
      }
      const value = quantity * price;
      const fee = takerFee(value, takerFeeBps);
      if (hasBudget) budget -= value + fee;

      fills.push({
        makerOrderId: maker.id,
        makerAccountId: maker.accountId,
        takerOrderId: takerId,
        takerAccountId,
        takerSide,
        priceCents: price,
        quantity,
        takerFeeCents: fee,
      });
      remaining -= quantity;
      if (quantity === maker.remaining) {
        this.nodes.delete(maker.id);
        opposite.unlink(node); // takes maker.remaining off the level's quantity
        maker.remaining = 0;
      } else {
        maker.remaining -= quantity;
        level.quantity -= quantity;
      }
      // The budget cut this fill short: it is spent, bar less than one more share with its
      // fee (with fees rounded down, a separate 1-share fill on the same maker might still
      // fit; we stop instead, so a match never fills the same maker twice).
      if (quantity < wanted) break;
    }

    let rested = false;
    if (isLimit && remaining > 0) {
      const order: RestingOrder = { id: takerId, accountId: takerAccountId, side: takerSide, priceCents: limit, remaining, seq: incoming.seq };
      this.nodes.set(takerId, (buying ? this.bids : this.asks).insert(order));
      rested = true;
    }
    return { fills, expiredOrderIds, filledQuantity: incoming.quantity - remaining, remainingQuantity: remaining, rested };
  }
}
