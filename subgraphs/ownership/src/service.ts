import { randomUUID } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  forbidden,
  notFound,
  outboxEnvelope,
  recordEvent,
  requireAuth,
  type EntityManager,
  type LiveEvents,
  type Logger,
  type Principal,
  type ProjectionWaits,
  isUuid,
  withSqlClient,
  type SqlPool,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { OrderFilled, RevenuePaid, TradeExecuted, liveTopics } from './events.ts';
import { cashOf, ensureAccount, post, reservedOf } from './ledger.ts';
import { splitRevenue } from './domain/market.ts';
import { takerFee } from './domain/fees.ts';
import { OrderBook, type Side } from './domain/matching.ts';
import { planSettlement, type TakerOrder } from './domain/settlement.ts';
import { applyPlacement, loadPlacement } from './placement.ts';

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
  private readonly sql: SqlPool;
  private readonly projections: ProjectionWaits;
  private readonly songs = new Set<string>();

  constructor(deps: { takerFeeBps: number; live: LiveEvents; log: Logger; sql: SqlPool; onEventsCommitted: () => void; projections: ProjectionWaits }) {
    this.feeBps = deps.takerFeeBps;
    this.projections = deps.projections;
    this.sql = deps.sql;
    this.live = deps.live;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
  }

  private async lockSong(tx: EntityManager, songId: string): Promise<void> {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`ownership:song:${songId}`]);
  }

  private async song(em: EntityManager, songId: string): Promise<{ song_id: string; artist_user_id: string; title: string }> {
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const song = isUuid(songId)
      ? await this.projections.find(SongPublished, songId, async () => ((await em.execute('select * from songs where song_id = ?', [songId])) as { song_id: string; artist_user_id: string; title: string }[])[0])
      : undefined;
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
    const clientOrderId = input.clientOrderId ?? null;
    if (clientOrderId !== null && (clientOrderId.length < 1 || clientOrderId.length > 64)) {
      throw badInput('clientOrderId must be 1 to 64 characters', 'input.clientOrderId');
    }
    const songId = await this.knownSong(em, input.songId);

    const outcome = await withDeadlockRetry(() =>
      withSqlClient(
        this.sql,
        async (client) => {
          const context = await loadPlacement(client, { userId: p.userId, songId, side: input.side, clientOrderId, limitPriceCents: limit, quantity: input.quantity });
          if (context.existingOrderId) {
            await client.query('rollback');
            return { existing: context.existingOrderId };
          }
          const taker: TakerOrder = { id: randomUUID(), userId: p.userId, side: input.side, type: input.type, quantity: input.quantity, limitPriceCents: limit, reservedCents: 0 };
          let budget: number | null = null;
          if (input.side === 'BUY') {
            taker.reservedCents = input.type === 'LIMIT' ? input.quantity * limit! + takerFee(input.quantity * limit!, this.feeBps) : context.available;
            if (taker.reservedCents === 0 || context.available < taker.reservedCents) {
              throw insufficient(`This order needs ${taker.reservedCents || 'some'} cents; you have ${context.available} available`);
            }
            if (input.type === 'MARKET') budget = context.available;
          } else if (context.available < input.quantity) {
            throw insufficient(`You do not hold ${input.quantity} unreserved shares of this song`);
          }
          const makers = new Map(context.makers.map((m) => [m.id, m]));
          const book = new OrderBook(context.makers.map((m) => ({ id: m.id, accountId: m.userId, side: m.side, priceCents: m.priceCents, remaining: m.quantity - m.filledQuantity, seq: m.seq })));
          const result = book.match({ id: taker.id, accountId: p.userId, side: input.side, type: input.type, quantity: input.quantity, limitPriceCents: limit, budgetCents: budget, seq: Number(context.seq) }, this.feeBps);
          const plan = planSettlement(taker, makers, result);
          const at = new Date();
          const tradeIds = plan.trades.map(() => randomUUID());
          const events = [
            ...plan.trades.map((t, i) =>
              outboxEnvelope(SOURCE, TradeExecuted, { tradeId: tradeIds[i]!, songId, buyerId: t.buyerId, sellerId: t.sellerId, buyOrderId: t.buyOrderId, sellOrderId: t.sellOrderId, priceCents: t.priceCents, quantity: t.quantity, executedAt: at.toISOString() }),
            ),
            ...plan.filled.map((f) =>
              outboxEnvelope(SOURCE, OrderFilled, {
                orderId: f.orderId,
                userId: f.userId,
                songId,
                side: f.side,
                quantity: f.quantity,
                averagePriceCents: Math.max(1, Math.round(f.valueCents / f.quantity)),
                orderQuantity: f.orderQuantity,
                filledQuantity: f.filledQuantity,
                fullyFilled: f.fullyFilled,
              }),
            ),
          ];
          await applyPlacement(client, { taker: { ...taker, songId, clientOrderId, seq: context.seq }, plan, tradeIds, at, events });
          const order: OrderRow = {
            id: taker.id,
            song_id: songId,
            user_id: p.userId,
            side: input.side,
            type: input.type,
            status: plan.taker.status,
            quantity: input.quantity,
            filled_quantity: plan.taker.filledQuantity,
            limit_price_cents: limit,
            reserved_cents: String(plan.taker.reservedCents),
            fill_value_cents: String(plan.taker.fillValueCents),
            client_order_id: clientOrderId,
            seq: context.seq,
            created_at: at,
          };
          const trades: TradeRow[] = plan.trades.map((t, i) => ({ id: tradeIds[i]!, song_id: songId, price_cents: t.priceCents, quantity: t.quantity, executed_at: at }));
          return { order, trades, events: events.length };
        },
      ),
    );
    if ('existing' in outcome) {
      const [existing] = (await em.execute('select * from orders where id = ?', [outcome.existing])) as OrderRow[];
      return { order: existing!, trades: await this.tradesOf(em, existing!.id) };
    }
    if (outcome.events > 0) this.onEventsCommitted();
    await this.publishMarket(songId, outcome.trades);
    return { order: outcome.order, trades: outcome.trades };
  }

  /** A song this context knows (from catalog's events); known songs are remembered, as songs are never removed. */
  private async knownSong(em: EntityManager, songId: string): Promise<string> {
    if (this.songs.has(songId)) return songId;
    await this.song(em, songId);
    if (this.songs.size > 100_000) this.songs.clear();
    this.songs.add(songId);
    return songId;
  }

  /** Cancels a resting order: releases whatever it still reserves (cash for a BUY, shares for a SELL). */
  private async cancelResting(tx: EntityManager, orderId: string): Promise<void> {
    const [order] = (await tx.execute(`update orders set status = 'CANCELLED', updated_at = now() where id = ? and status = 'OPEN' returning *`, [orderId])) as OrderRow[];
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
        await this.cancelResting(tx, orderId);
        const [ended] = (await tx.execute('select * from orders where id = ?', [orderId])) as OrderRow[];
        return ended!;
      }),
    );
    await this.publishMarket(found.song_id, []);
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

  /**
   * Live events after a commit: each trade in execution order, then that the book changed
   * (the gateway reads each subscriber's selection of the book back through the supergraph).
   */
  private async publishMarket(songId: string, trades: TradeRow[]): Promise<void> {
    try {
      await this.live.publishAll([
        ...trades.map((trade) => ({
          topic: liveTopics.tradeExecuted(songId),
          payload: { id: trade.id, songId, priceCents: trade.price_cents, quantity: trade.quantity, executedAt: new Date(trade.executed_at).toISOString() },
        })),
        { topic: liveTopics.orderBookUpdated(songId), payload: { songId } },
      ]);
    } catch (error) {
      this.log.warn({ err: error, songId }, 'live market events not published');
    }
  }
}
