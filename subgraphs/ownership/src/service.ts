import { randomUUID } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  forbidden,
  notFound,
  recordEvent,
  requireAuth,
  type EntityManager,
  type LiveEvents,
  type Logger,
  type Principal,
  isUuid,
} from '@vibestream/platform';
import { OrderFilled, RevenuePaid, TradeExecuted, liveTopics } from './events.ts';
import { cashOf, ensureAccount, post, reservedOf } from './ledger.ts';
import { splitRevenue } from './domain/market.ts';
import { takerFee } from './domain/fees.ts';
import { OrderBook, type Fill, type RestingOrder, type Side } from './domain/matching.ts';

export const SOURCE = 'ownership';

export interface OrderRow {
  id: string;
  song_id: string;
  user_id: string;
  side: 'BUY' | 'SELL';
  type: 'LIMIT' | 'MARKET';
  status: 'OPEN' | 'FILLED' | 'CANCELLED';
  quantity: number;
  filled_quantity: number;
  limit_price_cents: number | null;
  reserved_cents: string;
  fill_value_cents: string;
  client_order_id: string | null;
  seq: string;
  created_at: Date;
}

export interface TradeRow {
  id: string;
  song_id: string;
  price_cents: number;
  quantity: number;
  executed_at: Date;
}

export interface OfferingRow {
  id: string;
  song_id: string;
  artist_user_id: string;
  total_shares: number;
  shares_remaining: number;
  price_per_share_cents: number;
  revenue_share_bps: number;
  closes_at: Date | null;
}

export interface HoldingRow {
  user_id: string;
  song_id: string;
  quantity: number;
  reserved_quantity: number;
  cost_cents: string;
}

export interface DistributionRow {
  id: string;
  song_id: string;
  period_label: string;
  total_cents: string;
  holder_count: number;
}

export interface PlaceOrderOutcome {
  order: OrderRow;
  trades: TradeRow[];
}

export interface OfferingPurchaseOutcome {
  quantity: number;
  costCents: number;
  holding: HoldingRow;
}

/** Kept exported here for this context's modules; the rule is the platform's. */
export { isUuid };

const insufficient = (message: string) => new AppError(ErrorCode.INSUFFICIENT_FUNDS, message);
const MAX_PRICE_CENTS = 10_000_000;
const MAX_QUANTITY = 1_000_000;

/** Retries a transaction that PostgreSQL aborted to break a deadlock (two songs' trades touching the same accounts). */
async function withDeadlockRetry<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== '40P01' && code !== '40001') || attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10));
    }
  }
}

/** ownership's use cases. Every change to one song's book runs under that song's lock, in one transaction. */
export class OwnershipService {
  private readonly feeBps: number;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  private readonly onEventsCommitted: () => void;

  constructor(deps: { takerFeeBps: number; live: LiveEvents; log: Logger; onEventsCommitted: () => void }) {
    this.feeBps = deps.takerFeeBps;
    this.live = deps.live;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
  }

  private async lockSong(tx: EntityManager, songId: string): Promise<void> {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`ownership:song:${songId}`]);
  }

  private async song(em: EntityManager, songId: string): Promise<{ song_id: string; artist_user_id: string; title: string }> {
    const [song] = isUuid(songId) ? ((await em.execute('select * from songs where song_id = ?', [songId])) as { song_id: string; artist_user_id: string; title: string }[]) : [];
    if (!song) throw notFound('Song');
    return song;
  }

  async createOffering(
    em: EntityManager,
    principal: Principal | null,
    input: { songId: string; totalShares: number; pricePerShareCents: number; revenueShareBps: number; closesAt?: Date | null },
  ): Promise<OfferingRow> {
    const p = requireAuth(principal);
    const song = await this.song(em, input.songId);
    if (song.artist_user_id !== p.userId) throw forbidden("Only the song's artist may open its offering");
    if (!Number.isInteger(input.totalShares) || input.totalShares < 1 || input.totalShares > MAX_QUANTITY) throw badInput('totalShares must be between 1 and 1000000', 'input.totalShares');
    if (!Number.isInteger(input.pricePerShareCents) || input.pricePerShareCents < 1 || input.pricePerShareCents > MAX_PRICE_CENTS) {
      throw badInput('pricePerShareCents must be a positive number of cents', 'input.pricePerShareCents');
    }
    if (!Number.isInteger(input.revenueShareBps) || input.revenueShareBps < 1 || input.revenueShareBps > 5000) {
      throw badInput('revenueShareBps must be between 1 and 5000', 'input.revenueShareBps');
    }
    if (input.closesAt && input.closesAt.getTime() <= Date.now()) throw badInput('closesAt must be in the future', 'input.closesAt');
    const rows = (await em.execute(
      `insert into offerings (id, song_id, artist_user_id, total_shares, shares_remaining, price_per_share_cents, revenue_share_bps, closes_at)
       values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (song_id) do nothing returning *`,
      [randomUUID(), song.song_id, p.userId, input.totalShares, input.totalShares, input.pricePerShareCents, input.revenueShareBps, input.closesAt ?? null],
    )) as OfferingRow[];
    if (rows.length === 0) throw conflict('This song already has an offering');
    await ensureAccount(em, p.userId);
    return rows[0]!;
  }

  async buyOffering(em: EntityManager, principal: Principal | null, offeringId: string, quantity: number): Promise<OfferingPurchaseOutcome> {
    const p = requireAuth(principal);
    if (!Number.isInteger(quantity) || quantity < 1) throw badInput('quantity must be at least 1', 'quantity');
    return withDeadlockRetry(() =>
      em.fork().transactional(async (tx) => {
        const [found] = isUuid(offeringId) ? ((await tx.execute('select song_id from offerings where id = ?', [offeringId])) as { song_id: string }[]) : [];
        if (!found) throw notFound('Offering');
        await this.lockSong(tx, found.song_id);
        const [offering] = (await tx.execute('select * from offerings where id = ? for update', [offeringId])) as OfferingRow[];
        if (offering!.artist_user_id === p.userId) throw forbidden('Artists cannot buy their own offering');
        if (offering!.closes_at && new Date(offering!.closes_at).getTime() <= Date.now()) throw conflict('This offering is closed');
        if (offering!.shares_remaining === 0) throw conflict('This offering is sold out');
        if (quantity > offering!.shares_remaining) throw badInput(`Only ${offering!.shares_remaining} shares remain`, 'quantity');
        const cost = quantity * offering!.price_per_share_cents;
        await ensureAccount(tx, p.userId);
        await ensureAccount(tx, offering!.artist_user_id);
        const [account] = (await tx.execute('select cash_cents from accounts where user_id = ? for update', [p.userId])) as { cash_cents: string }[];
        if (Number(account!.cash_cents) < cost) throw insufficient(`Buying ${quantity} shares costs ${cost} cents; you have ${account!.cash_cents} available`);
        await post(tx, 'offering.purchase', [
          [cashOf(p.userId), -cost],
          [cashOf(offering!.artist_user_id), cost],
        ]);
        await tx.execute('update offerings set shares_remaining = shares_remaining - ? where id = ?', [quantity, offeringId]);
        const [holding] = (await tx.execute(
          `insert into holdings (user_id, song_id, quantity, cost_cents) values (?, ?, ?, ?)
           on conflict (user_id, song_id) do update set quantity = holdings.quantity + excluded.quantity, cost_cents = holdings.cost_cents + excluded.cost_cents
           returning *`,
          [p.userId, offering!.song_id, quantity, cost],
        )) as HoldingRow[];
        return { quantity, costCents: cost, holding: holding! };
      }),
    );
  }

  async placeOrder(
    em: EntityManager,
    principal: Principal | null,
    input: { songId: string; side: Side; type: 'LIMIT' | 'MARKET'; quantity: number; limitPriceCents?: number | null; clientOrderId?: string | null },
  ): Promise<PlaceOrderOutcome> {
    const p = requireAuth(principal);
    if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > MAX_QUANTITY) throw badInput('quantity must be between 1 and 1000000', 'input.quantity');
    const limit = input.type === 'LIMIT' ? (input.limitPriceCents ?? null) : null;
    if (input.type === 'LIMIT' && (!Number.isInteger(limit) || limit! < 1 || limit! > MAX_PRICE_CENTS)) {
      throw badInput('A LIMIT order needs limitPriceCents between 1 and 10000000', 'input.limitPriceCents');
    }
    if (input.clientOrderId !== undefined && input.clientOrderId !== null && (input.clientOrderId.length < 1 || input.clientOrderId.length > 64)) {
      throw badInput('clientOrderId must be 1 to 64 characters', 'input.clientOrderId');
    }
    const song = await this.song(em, input.songId);

    const outcome = await withDeadlockRetry(() =>
      em.fork().transactional(async (tx) => {
        await this.lockSong(tx, song.song_id);
        if (input.clientOrderId) {
          const [existing] = (await tx.execute('select * from orders where user_id = ? and client_order_id = ?', [p.userId, input.clientOrderId])) as OrderRow[];
          if (existing) return { order: existing, trades: await this.tradesOf(tx, existing.id), published: null };
        }
        const orderId = randomUUID();
        let reserved = 0;
        let budget: number | null = null;
        if (input.side === 'BUY') {
          const [account] = (await tx.execute('select cash_cents from accounts where user_id = ? for update', [p.userId])) as { cash_cents: string }[];
          const available = Number(account?.cash_cents ?? 0);
          reserved = input.type === 'LIMIT' ? input.quantity * limit! + takerFee(input.quantity * limit!, this.feeBps) : available;
          if (reserved === 0 || available < reserved) throw insufficient(`This order needs ${reserved || 'some'} cents; you have ${available} available`);
          budget = input.type === 'MARKET' ? available : null;
          await post(tx, 'order.reserve', [
            [cashOf(p.userId), -reserved],
            [reservedOf(p.userId), reserved],
          ]);
        } else {
          const held = (await tx.execute(
            'update holdings set reserved_quantity = reserved_quantity + ? where user_id = ? and song_id = ? and quantity - reserved_quantity >= ? returning user_id',
            [input.quantity, p.userId, song.song_id, input.quantity],
          )) as unknown[];
          if (held.length === 0) throw insufficient(`You do not hold ${input.quantity} unreserved shares of this song`);
        }
        const [order] = (await tx.execute(
          `insert into orders (id, song_id, user_id, side, type, status, quantity, limit_price_cents, reserved_cents, client_order_id)
           values (?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?) returning *`,
          [orderId, song.song_id, p.userId, input.side, input.type, input.quantity, limit, reserved, input.clientOrderId ?? null],
        )) as OrderRow[];

        const book = new OrderBook(await this.candidates(tx, song.song_id, input.side, limit, input.quantity, p.userId));
        const result = book.match(
          { id: orderId, accountId: p.userId, side: input.side, type: input.type, quantity: input.quantity, limitPriceCents: limit, budgetCents: budget, seq: Number(order!.seq) },
          this.feeBps,
        );
        for (const expired of result.expiredOrderIds) await this.endOrder(tx, expired, 'CANCELLED');
        const trades: TradeRow[] = [];
        for (const fill of result.fills) trades.push(await this.settle(tx, song.song_id, fill));
        // The taker: its own fills are settled; now it rests (LIMIT remainder), fills, or cancels (MARKET remainder).
        if (result.remainingQuantity === 0) await this.endOrder(tx, orderId, 'FILLED');
        else if (!result.rested) await this.endOrder(tx, orderId, 'CANCELLED');
        const [final] = (await tx.execute('select * from orders where id = ?', [orderId])) as OrderRow[];
        await tx.flush();
        return { order: final!, trades, published: trades };
      }),
    );
    if (outcome.published) {
      if (outcome.published.length > 0) this.onEventsCommitted();
      await this.publishBookChange(em, song.song_id, outcome.published);
    }
    return { order: outcome.order, trades: outcome.trades };
  }

  /** Resting orders on the other side that this order could trade with, in priority order, enough to fill it. */
  private async candidates(tx: EntityManager, songId: string, side: Side, limit: number | null, quantity: number, userId: string): Promise<RestingOrder[]> {
    const opposite = side === 'BUY' ? 'SELL' : 'BUY';
    const priceFilter = limit === null ? '' : side === 'BUY' ? 'and limit_price_cents <= ?' : 'and limit_price_cents >= ?';
    const order = side === 'BUY' ? 'limit_price_cents asc, seq asc' : 'limit_price_cents desc, seq asc';
    const rows = (await tx.execute(
      `select id, user_id, side, limit_price_cents, quantity - filled_quantity as remaining, seq from (
         select o.*, sum(case when o.user_id <> ? then o.quantity - o.filled_quantity else 0 end) over (order by ${order}) as before_and_this
         from orders o where song_id = ? and side = ? and status = 'OPEN' ${priceFilter}
       ) c where before_and_this - (case when user_id <> ? then quantity - filled_quantity else 0 end) < ?
       order by ${order}`,
      [userId, songId, opposite, ...(limit === null ? [] : [limit]), userId, quantity],
    )) as { id: string; user_id: string; side: Side; limit_price_cents: number; remaining: number; seq: string }[];
    return rows.map((r) => ({ id: r.id, accountId: r.user_id, side: r.side, priceCents: r.limit_price_cents, remaining: Number(r.remaining), seq: Number(r.seq) }));
  }

  /** Moves cash, shares and the fee of one fill. */
  private async settle(tx: EntityManager, songId: string, fill: Fill): Promise<TradeRow> {
    const value = fill.priceCents * fill.quantity;
    const buyerIsTaker = fill.takerSide === 'BUY';
    const buyOrderId = buyerIsTaker ? fill.takerOrderId : fill.makerOrderId;
    const sellOrderId = buyerIsTaker ? fill.makerOrderId : fill.takerOrderId;
    const buyerId = buyerIsTaker ? fill.takerAccountId : fill.makerAccountId;
    const sellerId = buyerIsTaker ? fill.makerAccountId : fill.takerAccountId;
    const buyerFee = buyerIsTaker ? fill.takerFeeCents : 0;
    const sellerFee = buyerIsTaker ? 0 : fill.takerFeeCents;
    await post(tx, 'trade', [
      [reservedOf(buyerId), -(value + buyerFee)],
      [cashOf(sellerId), value - sellerFee],
      ['fees', fill.takerFeeCents],
    ]);
    // Both orders in one statement; the maker's new fill tells whether it leaves the book.
    const updated = (await tx.execute(
      `update orders set filled_quantity = filled_quantity + ?, fill_value_cents = fill_value_cents + ?, updated_at = now(),
         reserved_cents = reserved_cents - case when id = ? then ? else 0 end
       where id in (?, ?) returning id, quantity, filled_quantity`,
      [fill.quantity, value, buyOrderId, value + buyerFee, buyOrderId, sellOrderId],
    )) as { id: string; quantity: number; filled_quantity: number }[];
    // The seller's cost basis shrinks pro rata (integer division floors, as BigInt division would).
    await tx.execute(
      `update holdings set quantity = quantity - ?, reserved_quantity = reserved_quantity - ?, cost_cents = cost_cents - (cost_cents * ? / quantity)
       where user_id = ? and song_id = ?`,
      [fill.quantity, fill.quantity, fill.quantity, sellerId, songId],
    );
    await tx.execute(
      `insert into holdings (user_id, song_id, quantity, cost_cents) values (?, ?, ?, ?)
       on conflict (user_id, song_id) do update set quantity = holdings.quantity + excluded.quantity, cost_cents = holdings.cost_cents + excluded.cost_cents`,
      [buyerId, songId, fill.quantity, value + buyerFee],
    );
    const [trade] = (await tx.execute(
      `insert into trades (id, song_id, buy_order_id, sell_order_id, buyer_id, seller_id, taker_side, price_cents, quantity, fee_cents)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id, song_id, price_cents, quantity, executed_at`,
      [randomUUID(), songId, buyOrderId, sellOrderId, buyerId, sellerId, fill.takerSide, fill.priceCents, fill.quantity, fill.takerFeeCents],
    )) as TradeRow[];
    recordEvent(tx, SOURCE, TradeExecuted, {
      tradeId: trade!.id,
      songId,
      buyerId,
      sellerId,
      buyOrderId,
      sellOrderId,
      priceCents: fill.priceCents,
      quantity: fill.quantity,
      executedAt: new Date(trade!.executed_at).toISOString(),
    });
    // A maker that is now fully filled leaves the book.
    const maker = updated.find((o) => o.id === fill.makerOrderId)!;
    if (maker.filled_quantity === maker.quantity) await this.endOrder(tx, fill.makerOrderId, 'FILLED');
    return trade!;
  }

  /** Ends an order: releases whatever it still reserves (cash for a BUY, shares for a SELL). */
  private async endOrder(tx: EntityManager, orderId: string, status: 'FILLED' | 'CANCELLED'): Promise<void> {
    const [order] = (await tx.execute(`update orders set status = ?, updated_at = now() where id = ? and status = 'OPEN' returning *`, [status, orderId])) as OrderRow[];
    if (!order) return;
    if (order.side === 'BUY') {
      const leftover = Number(order.reserved_cents);
      if (leftover > 0) {
        await post(tx, 'order.release', [
          [reservedOf(order.user_id), -leftover],
          [cashOf(order.user_id), leftover],
        ]);
        await tx.execute('update orders set reserved_cents = 0 where id = ?', [orderId]);
      }
    } else {
      const unfilled = order.quantity - order.filled_quantity;
      if (unfilled > 0) {
        await tx.execute('update holdings set reserved_quantity = reserved_quantity - ? where user_id = ? and song_id = ?', [unfilled, order.user_id, order.song_id]);
      }
    }
    if (status === 'FILLED') {
      recordEvent(tx, SOURCE, OrderFilled, {
        orderId,
        userId: order.user_id,
        songId: order.song_id,
        side: order.side,
        quantity: order.quantity,
        averagePriceCents: Math.max(1, Math.round(Number(order.fill_value_cents) / order.quantity)),
        orderQuantity: order.quantity,
        filledQuantity: order.quantity,
        fullyFilled: true,
      });
    }
  }

  async cancelOrder(em: EntityManager, principal: Principal | null, orderId: string): Promise<OrderRow> {
    const p = requireAuth(principal);
    const [found] = isUuid(orderId) ? ((await em.execute('select song_id, user_id from orders where id = ?', [orderId])) as { song_id: string; user_id: string }[]) : [];
    if (!found) throw notFound('Order');
    if (found.user_id !== p.userId) throw forbidden("Only the order's owner may cancel it");
    const order = await withDeadlockRetry(() =>
      em.fork().transactional(async (tx) => {
        await this.lockSong(tx, found.song_id);
        const [current] = (await tx.execute('select * from orders where id = ?', [orderId])) as OrderRow[];
        if (current!.status !== 'OPEN') throw conflict(`This order is already ${current!.status.toLowerCase()}`);
        await this.endOrder(tx, orderId, 'CANCELLED');
        const [ended] = (await tx.execute('select * from orders where id = ?', [orderId])) as OrderRow[];
        return ended!;
      }),
    );
    await this.publishBookChange(em, found.song_id, []);
    return order;
  }

  async distributeRevenue(em: EntityManager, principal: Principal | null, songId: string, amountCents: number, periodLabel: string): Promise<DistributionRow> {
    const p = requireAuth(principal);
    const song = await this.song(em, songId);
    const isAdmin = p.roles.includes('ADMIN');
    if (!isAdmin && song.artist_user_id !== p.userId) throw forbidden("Only the song's artist or an ADMIN may distribute its revenue");
    if (!Number.isInteger(amountCents) || amountCents < 1) throw badInput('amountCents must be a positive number of cents', 'amountCents');
    const label = periodLabel.trim();
    if (!label || label.length > 64) throw badInput('periodLabel must be 1 to 64 characters', 'periodLabel');
    const result = await withDeadlockRetry(() =>
      em.fork().transactional(async (tx) => {
        await this.lockSong(tx, songId);
        const [existing] = (await tx.execute('select * from distributions where song_id = ? and period_label = ?', [songId, label])) as DistributionRow[];
        if (existing) return { row: existing, fresh: false };
        const [offering] = (await tx.execute('select total_shares from offerings where song_id = ?', [songId])) as { total_shares: number }[];
        if (!offering) throw conflict('This song has no offering, so no holders to pay');
        const holders = (await tx.execute('select user_id, quantity from holdings where song_id = ? and quantity > 0 order by user_id', [songId])) as {
          user_id: string;
          quantity: number;
        }[];
        const split = splitRevenue(amountCents, offering.total_shares, holders.map((h) => ({ userId: h.user_id, shares: h.quantity })));
        const artist = song.artist_user_id;
        await ensureAccount(tx, artist);
        for (const payout of split.payouts) await ensureAccount(tx, payout.userId);
        const source = isAdmin ? 'external:revenue' : cashOf(artist);
        if (!isAdmin) {
          const [account] = (await tx.execute('select cash_cents from accounts where user_id = ? for update', [artist])) as { cash_cents: string }[];
          if (Number(account!.cash_cents) < amountCents) throw insufficient(`Distributing ${amountCents} cents needs that much available cash`);
        }
        // Holders' parts, and the artist's (unsold shares and rounding), in one balanced transaction.
        const postings = new Map<string, number>([[source, -amountCents]]);
        for (const payout of split.payouts) postings.set(cashOf(payout.userId), (postings.get(cashOf(payout.userId)) ?? 0) + payout.amountCents);
        postings.set(cashOf(artist), (postings.get(cashOf(artist)) ?? 0) + split.artistRemainderCents);
        await post(tx, 'revenue.distribution', [...postings] as [never, number][]);
        const [row] = (await tx.execute(
          `insert into distributions (id, song_id, period_label, total_cents, holder_count, source) values (?, ?, ?, ?, ?, ?) returning *`,
          [randomUUID(), songId, label, amountCents, split.payouts.length, isAdmin ? 'ADMIN' : 'ARTIST'],
        )) as DistributionRow[];
        for (const payout of split.payouts) {
          recordEvent(tx, SOURCE, RevenuePaid, { distributionId: row!.id, songId, userId: payout.userId, amountCents: payout.amountCents, shares: payout.shares, periodLabel: label });
        }
        await tx.flush();
        return { row: row!, fresh: true };
      }),
    );
    if (result.fresh) this.onEventsCommitted();
    return result.row;
  }

  async orderBook(em: EntityManager, songId: string, depth = 10) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 100) throw badInput('depth must be between 1 and 100', 'depth');
    if (!isUuid(songId)) throw notFound('Song');
    const levels = (await em.execute(
      `(select side, limit_price_cents as price, sum(quantity - filled_quantity)::int as quantity, count(*)::int as orders
          from orders where song_id = ? and status = 'OPEN' and side = 'BUY' group by side, limit_price_cents order by limit_price_cents desc limit ?)
       union all
       (select side, limit_price_cents, sum(quantity - filled_quantity)::int, count(*)::int
          from orders where song_id = ? and status = 'OPEN' and side = 'SELL' group by side, limit_price_cents order by limit_price_cents asc limit ?)`,
      [songId, depth, songId, depth],
    )) as { side: Side; price: number; quantity: number; orders: number }[];
    const [last] = (await em.execute('select price_cents from trades where song_id = ? order by seq desc limit 1', [songId])) as { price_cents: number }[];
    const level = (l: (typeof levels)[number]) => ({ priceCents: l.price, quantity: l.quantity, orders: l.orders });
    return {
      songId,
      bids: levels.filter((l) => l.side === 'BUY').map(level),
      asks: levels.filter((l) => l.side === 'SELL').map(level),
      lastTradePriceCents: last?.price_cents ?? null,
    };
  }

  private async tradesOf(tx: EntityManager, orderId: string): Promise<TradeRow[]> {
    return (await tx.execute(
      'select id, song_id, price_cents, quantity, executed_at from trades where buy_order_id = ? or sell_order_id = ? order by seq',
      [orderId, orderId],
    )) as TradeRow[];
  }

  /** Live events after a commit: each trade in execution order, then the book's top levels. */
  private async publishBookChange(em: EntityManager, songId: string, trades: TradeRow[]): Promise<void> {
    try {
      for (const trade of trades) {
        await this.live.publish(liveTopics.tradeExecuted(songId), {
          id: trade.id,
          songId,
          priceCents: trade.price_cents,
          quantity: trade.quantity,
          executedAt: new Date(trade.executed_at).toISOString(),
        });
      }
      await this.live.publish(liveTopics.orderBookUpdated(songId), await this.orderBook(em.fork(), songId, 10));
    } catch (error) {
      this.log.warn({ err: error, songId }, 'live market events not published');
    }
  }
}
