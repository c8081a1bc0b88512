import { randomUUID } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  forbidden,
  notFound,
  outboxEnvelope,
  requireAuth,
  entityTag,
  type EventEnvelope,
  type LiveEvents,
  type Logger,
  type Persistence,
  type Principal,
  type ProjectionWaits,
  type Tx,
  isUuid,
} from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { OfferingSharesBought, OrderFilled, RevenuePaid, TradeExecuted, liveTopics } from './events.ts';
import { cashOf, ensureAccount, post, reservedOf, type LedgerAccount } from './ledger.ts';
import { splitRevenue } from './domain/market.ts';
import { takerFee } from './domain/fees.ts';
import { OrderBook, type Side } from './domain/matching.ts';
import { planSettlement, type TakerOrder } from './domain/settlement.ts';
import { applyPlacement, endPlacement, loadPlacement, withPlacementClient, type PlacementPool } from './placement.ts';
import * as store from './store.ts';
import type { DistributionRow, HoldingRow, OfferingRow, OrderRow, TradeRow } from './store.ts';

export const SOURCE = 'ownership';

export type { DistributionRow, HoldingRow, OfferingRow, OrderRow, TradeRow } from './store.ts';

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

const returned = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`${what}: the statement returned no row`);
  return value;
};
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
  private readonly db: Persistence;
  private readonly feeBps: number;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  private readonly onEventsCommitted: (events: readonly EventEnvelope[]) => Promise<void> | void;
  private readonly sql: PlacementPool;
  private readonly projections: ProjectionWaits;
  private readonly songs = new Set<string>();

  constructor(deps: {
    db: Persistence;
    takerFeeBps: number;
    live: LiveEvents;
    log: Logger;
    sql: PlacementPool;
    onEventsCommitted: (events: readonly EventEnvelope[]) => Promise<void> | void;
    projections: ProjectionWaits;
  }) {
    this.db = deps.db;
    this.feeBps = deps.takerFeeBps;
    this.projections = deps.projections;
    this.sql = deps.sql;
    this.live = deps.live;
    this.log = deps.log;
    this.onEventsCommitted = deps.onEventsCommitted;
  }

  private async song(songId: string): Promise<{ song_id: string; artist_user_id: string; title: string }> {
    // A song catalog has just published may not be projected here yet: wait for it before NOT_FOUND.
    const reader = this.db.reader();
    const song = isUuid(songId) ? await this.projections.find(SongPublished, songId, () => store.songById(reader, songId)) : undefined;
    if (!song) throw notFound('Song');
    return song;
  }

  async createOffering(
    principal: Principal | null,
    input: { songId: string; totalShares: number; pricePerShareCents: number; revenueShareBps: number; closesAt?: Date | null },
  ): Promise<OfferingRow> {
    const p = requireAuth(principal);
    const song = await this.song(input.songId);
    if (song.artist_user_id !== p.userId) throw forbidden("Only the song's artist may open its offering");
    if (!Number.isInteger(input.totalShares) || input.totalShares < 1 || input.totalShares > MAX_QUANTITY)
      throw badInput('totalShares must be between 1 and 1000000', 'input.totalShares');
    if (!Number.isInteger(input.pricePerShareCents) || input.pricePerShareCents < 1 || input.pricePerShareCents > MAX_PRICE_CENTS) {
      throw badInput('pricePerShareCents must be a positive number of cents', 'input.pricePerShareCents');
    }
    if (!Number.isInteger(input.revenueShareBps) || input.revenueShareBps < 1 || input.revenueShareBps > 5000) {
      throw badInput('revenueShareBps must be between 1 and 5000', 'input.revenueShareBps');
    }
    if (input.closesAt && input.closesAt.getTime() <= Date.now()) throw badInput('closesAt must be in the future', 'input.closesAt');
    // The offering and the artist's trading account in one transaction.
    return this.db.useCase(async (tx) => {
      // The song's market shows its offering.
      tx.changed(entityTag('Song', song.song_id));
      const offering = await store.insertOffering(tx, {
        id: randomUUID(),
        songId: song.song_id,
        artistUserId: p.userId,
        totalShares: input.totalShares,
        pricePerShareCents: input.pricePerShareCents,
        revenueShareBps: input.revenueShareBps,
        closesAt: input.closesAt ?? null,
      });
      if (!offering) throw conflict('This song already has an offering');
      await ensureAccount(tx, p.userId);
      return offering;
    });
  }

  async buyOffering(principal: Principal | null, offeringId: string, quantity: number): Promise<OfferingPurchaseOutcome> {
    const p = requireAuth(principal);
    if (!Number.isInteger(quantity) || quantity < 1) throw badInput('quantity must be at least 1', 'quantity');
    return withDeadlockRetry(() =>
      this.db.useCase(async (tx) => {
        const songId = isUuid(offeringId) ? await store.offeringSong(tx, offeringId) : undefined;
        if (!songId) throw notFound('Offering');
        await store.lockSong(tx, songId);
        // The offering's shares remaining, in the song's market.
        tx.changed(entityTag('Song', songId));
        const offering = returned(await store.lockOffering(tx, offeringId), 'the offering');
        if (offering.artist_user_id === p.userId) throw forbidden('Artists cannot buy their own offering');
        if (offering.closes_at && offering.closes_at.getTime() <= Date.now()) throw conflict('This offering is closed');
        if (offering.shares_remaining === 0) throw conflict('This offering is sold out');
        if (quantity > offering.shares_remaining) throw badInput(`Only ${offering.shares_remaining} shares remain`, 'quantity');
        const cost = quantity * offering.price_per_share_cents;
        await ensureAccount(tx, p.userId);
        await ensureAccount(tx, offering.artist_user_id);
        const cash = returned(await store.lockCash(tx, p.userId), "the buyer's account");
        if (Number(cash) < cost) throw insufficient(`Buying ${quantity} shares costs ${cost} cents; you have ${cash} available`);
        await post(tx, 'offering.purchase', [
          [cashOf(p.userId), -cost],
          [cashOf(offering.artist_user_id), cost],
        ]);
        await store.takeShares(tx, offeringId, quantity);
        const holding = returned(await store.addHolding(tx, { userId: p.userId, songId: offering.song_id, quantity, costCents: cost }), 'the holding');
        tx.outbox.record(OfferingSharesBought, { offeringId, songId: offering.song_id, userId: p.userId, quantity, costCents: cost });
        return { quantity, costCents: cost, holding };
      }),
    );
  }

  async placeOrder(
    principal: Principal | null,
    input: { songId: string; side: Side; type: 'LIMIT' | 'MARKET'; quantity: number; limitPriceCents?: number | null; clientOrderId?: string | null },
  ): Promise<PlaceOrderOutcome> {
    const p = requireAuth(principal);
    if (!Number.isInteger(input.quantity) || input.quantity < 1 || input.quantity > MAX_QUANTITY)
      throw badInput('quantity must be between 1 and 1000000', 'input.quantity');
    const limit = input.type === 'LIMIT' ? (input.limitPriceCents ?? null) : null;
    if (input.type === 'LIMIT' && (!Number.isInteger(limit) || limit! < 1 || limit! > MAX_PRICE_CENTS)) {
      throw badInput('A LIMIT order needs limitPriceCents between 1 and 10000000', 'input.limitPriceCents');
    }
    const clientOrderId = input.clientOrderId ?? null;
    if (clientOrderId !== null && (clientOrderId.length < 1 || clientOrderId.length > 64)) {
      throw badInput('clientOrderId must be 1 to 64 characters', 'input.clientOrderId');
    }
    const songId = await this.knownSong(input.songId);

    const outcome = await withDeadlockRetry(() =>
      withPlacementClient(this.sql, async (client) => {
        const context = await loadPlacement(client, {
          userId: p.userId,
          songId,
          side: input.side,
          clientOrderId,
          limitPriceCents: limit,
          quantity: input.quantity,
        });
        if (context.existingOrderId) {
          await endPlacement(client);
          return { existing: context.existingOrderId };
        }
        const taker: TakerOrder = {
          id: randomUUID(),
          userId: p.userId,
          side: input.side,
          type: input.type,
          quantity: input.quantity,
          limitPriceCents: limit,
          reservedCents: 0,
        };
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
        const book = new OrderBook(
          context.makers.map((m) => ({
            id: m.id,
            accountId: m.userId,
            side: m.side,
            priceCents: m.priceCents,
            remaining: m.quantity - m.filledQuantity,
            seq: m.seq,
          })),
        );
        const result = book.match(
          {
            id: taker.id,
            accountId: p.userId,
            side: input.side,
            type: input.type,
            quantity: input.quantity,
            limitPriceCents: limit,
            budgetCents: budget,
            seq: Number(context.seq),
          },
          this.feeBps,
        );
        const plan = planSettlement(taker, makers, result);
        const at = new Date();
        const tradeIds = plan.trades.map(() => randomUUID());
        const events = [
          ...plan.trades.map((t, i) =>
            outboxEnvelope(SOURCE, TradeExecuted, {
              tradeId: tradeIds[i]!,
              songId,
              buyerId: t.buyerId,
              sellerId: t.sellerId,
              buyOrderId: t.buyOrderId,
              sellOrderId: t.sellOrderId,
              priceCents: t.priceCents,
              quantity: t.quantity,
              executedAt: at.toISOString(),
            }),
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
        const trades: TradeRow[] = plan.trades.map((t, i) => ({
          id: tradeIds[i]!,
          song_id: songId,
          price_cents: t.priceCents,
          quantity: t.quantity,
          executed_at: at,
        }));
        return { order, trades, events };
      }),
    );
    if ('existing' in outcome) {
      const reader = this.db.reader();
      const existing = returned(outcome.existing ? await store.orderById(reader, outcome.existing) : undefined, 'the existing order');
      return { order: existing, trades: await store.tradesOfOrder(reader, existing.id) };
    }
    // The trades' entities leave the gateway's cache before subscribers hear of them.
    if (outcome.events.length > 0) await this.onEventsCommitted(outcome.events);
    await this.publishMarket(songId, outcome.trades);
    return { order: outcome.order, trades: outcome.trades };
  }

  /** A song this context knows (from catalog's events); known songs are remembered, as songs are never removed. */
  private async knownSong(songId: string): Promise<string> {
    if (this.songs.has(songId)) return songId;
    await this.song(songId);
    if (this.songs.size > 100_000) this.songs.clear();
    this.songs.add(songId);
    return songId;
  }

  /** Cancels a resting order: releases whatever it still reserves (cash for a BUY, shares for a SELL). */
  private async cancelResting(tx: Tx, orderId: string): Promise<void> {
    const order = await store.cancelOpenOrder(tx, orderId);
    if (!order) return;
    if (order.side === 'BUY') {
      const leftover = Number(order.reserved_cents);
      if (leftover > 0) {
        await post(tx, 'order.release', [
          [reservedOf(order.user_id), -leftover],
          [cashOf(order.user_id), leftover],
        ]);
        await store.clearReservation(tx, orderId);
      }
    } else {
      const unfilled = order.quantity - order.filled_quantity;
      if (unfilled > 0) {
        await store.releaseShares(tx, order.user_id, order.song_id, unfilled);
      }
    }
  }

  async cancelOrder(principal: Principal | null, orderId: string): Promise<OrderRow> {
    const p = requireAuth(principal);
    const found = isUuid(orderId) ? await store.orderOwner(this.db.reader(), orderId) : undefined;
    if (!found) throw notFound('Order');
    if (found.user_id !== p.userId) throw forbidden("Only the order's owner may cancel it");
    const order = await withDeadlockRetry(() =>
      this.db.useCase(async (tx) => {
        await store.lockSong(tx, found.song_id);
        const current = returned(await store.orderById(tx, orderId), 'the order');
        if (current.status !== 'OPEN') throw conflict(`This order is already ${current.status.toLowerCase()}`);
        await this.cancelResting(tx, orderId);
        return returned(await store.orderById(tx, orderId), 'the cancelled order');
      }),
    );
    await this.publishMarket(found.song_id, []);
    return order;
  }

  async distributeRevenue(principal: Principal | null, songId: string, amountCents: number, periodLabel: string): Promise<DistributionRow> {
    const p = requireAuth(principal);
    const song = await this.song(songId);
    const isAdmin = p.roles.includes('ADMIN');
    if (!isAdmin && song.artist_user_id !== p.userId) throw forbidden("Only the song's artist or an ADMIN may distribute its revenue");
    if (!Number.isInteger(amountCents) || amountCents < 1) throw badInput('amountCents must be a positive number of cents', 'amountCents');
    const label = periodLabel.trim();
    if (!label || label.length > 64) throw badInput('periodLabel must be 1 to 64 characters', 'periodLabel');
    return withDeadlockRetry(() =>
      this.db.useCase(async (tx) => {
        await store.lockSong(tx, songId);
        const existing = await store.distributionOf(tx, songId, label);
        if (existing) return existing;
        const totalShares = await store.totalSharesOf(tx, songId);
        if (totalShares === undefined) throw conflict('This song has no offering, so no holders to pay');
        const holders = await store.holdersOf(tx, songId);
        const split = splitRevenue(
          amountCents,
          totalShares,
          holders.map((h) => ({ userId: h.user_id, shares: h.quantity })),
        );
        const artist = song.artist_user_id;
        await ensureAccount(tx, artist);
        for (const payout of split.payouts) await ensureAccount(tx, payout.userId);
        const source: LedgerAccount = isAdmin ? 'external:revenue' : cashOf(artist);
        if (!isAdmin) {
          const cash = returned(await store.lockCash(tx, artist), "the artist's account");
          if (Number(cash) < amountCents) throw insufficient(`Distributing ${amountCents} cents needs that much available cash`);
        }
        // Holders' parts, and the artist's (unsold shares and rounding), in one balanced transaction.
        const postings = new Map<LedgerAccount, number>([[source, -amountCents]]);
        for (const payout of split.payouts) postings.set(cashOf(payout.userId), (postings.get(cashOf(payout.userId)) ?? 0) + payout.amountCents);
        postings.set(cashOf(artist), (postings.get(cashOf(artist)) ?? 0) + split.artistRemainderCents);
        await post(tx, 'revenue.distribution', [...postings]);
        const row = returned(
          await store.insertDistribution(tx, {
            id: randomUUID(),
            songId,
            periodLabel: label,
            totalCents: amountCents,
            holderCount: split.payouts.length,
            source: isAdmin ? 'ADMIN' : 'ARTIST',
          }),
          'insert into distributions',
        );
        for (const payout of split.payouts) {
          tx.outbox.record(RevenuePaid, {
            distributionId: row.id,
            songId,
            userId: payout.userId,
            amountCents: payout.amountCents,
            shares: payout.shares,
            periodLabel: label,
          });
        }
        return row;
      }),
    );
  }

  async orderBook(songId: string, depth = 10) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 100) throw badInput('depth must be between 1 and 100', 'depth');
    if (!isUuid(songId)) throw notFound('Song');
    const reader = this.db.reader();
    const levels = await store.bookLevels(reader, songId, depth);
    const last = await store.lastTradePrice(reader, songId);
    const level = (l: (typeof levels)[number]) => ({ priceCents: l.price, quantity: l.quantity, orders: l.orders });
    return {
      songId,
      bids: levels.filter((l) => l.side === 'BUY').map(level),
      asks: levels.filter((l) => l.side === 'SELL').map(level),
      lastTradePriceCents: last ?? null,
    };
  }

  async trade(tradeId: string): Promise<TradeRow | null> {
    return (await store.tradeById(this.db.reader(), tradeId)) ?? null;
  }

  async tradingAccount(userId: string): Promise<{ cashCents: number; reservedCents: number }> {
    const row = await store.accountOf(this.db.reader(), userId);
    return { cashCents: Number(row?.cash_cents ?? 0), reservedCents: Number(row?.reserved_cents ?? 0) };
  }

  holdings(userId: string): Promise<HoldingRow[]> {
    return store.holdingsOf(this.db.reader(), userId);
  }

  openOrders(userId: string, limit: number): Promise<OrderRow[]> {
    return store.openOrdersOf(this.db.reader(), userId, limit);
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
