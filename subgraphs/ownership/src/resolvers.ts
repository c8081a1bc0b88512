import {
  DateTimeScalar,
  forbidden,
  idOrNull,
  isSelfOrAdmin,
  keyOnlyReference,
  MAX_PAGE_SIZE,
  pageSize,
  parseId,
  referenceById,
  type BaseRequestContext,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import { twap } from './domain/market.ts';
import type { Loaders } from './loaders.ts';
import type { HoldingRow, OfferingRow, OwnershipService } from './service.ts';

export interface OwnershipContext extends BaseRequestContext {
  loaders: Loaders;
  service: OwnershipService;
}

/** An entity other subgraphs own, known here by its key. */
export interface EntityRef {
  id: string;
}

/** A song's market, resolved field by field through the loaders. */
export interface MarketRef {
  songId: string;
}

export interface PortfolioModel {
  holdings: HoldingRow[];
  totalValueCents: number;
}

function ownData(ctx: OwnershipContext, userId: string): void {
  if (!isSelfOrAdmin(ctx.principal, userId)) throw forbidden('This belongs to another user');
}

const offeringStatus = (o: OfferingRow) =>
  o.shares_remaining === 0 ? 'SOLD_OUT' : o.closes_at && new Date(o.closes_at).getTime() <= Date.now() ? 'CLOSED' : 'OPEN';

async function holdingValue(ctx: OwnershipContext, h: HoldingRow): Promise<number> {
  const stats = await ctx.loaders.marketStats.load(h.song_id);
  const offering = stats.lastTradePriceCents === null ? await ctx.loaders.offeringBySong.load(h.song_id) : null;
  const price = stats.lastTradePriceCents ?? offering?.price_per_share_cents ?? 0;
  return h.quantity * price;
}

export const resolvers: Resolvers<OwnershipContext> = {
  DateTime: DateTimeScalar,
  Query: {
    orderBook: (_root, { songId, depth }, ctx) => ctx.service.orderBook(parseId(songId, 'songId'), depth ?? 10),
    trade: async (_root, { id }, ctx) => {
      const tradeId = idOrNull(id);
      if (tradeId === null) return null;
      const row = await ctx.service.trade(tradeId);
      return row ?? null;
    },
    shareOffering: (_root, { id }, ctx) => {
      const offeringId = idOrNull(id);
      return offeringId === null ? null : ctx.loaders.offering.load(offeringId);
    },
  },
  Mutation: {
    createShareOffering: (_root, { input }, ctx) => ctx.service.createOffering(ctx.principal, { ...input, songId: parseId(input.songId, 'input.songId') }),
    buyOfferingShares: (_root, { offeringId, quantity }, ctx) => ctx.service.buyOffering(ctx.principal, parseId(offeringId, 'offeringId'), quantity),
    placeOrder: (_root, { input }, ctx) => ctx.service.placeOrder(ctx.principal, { ...input, songId: parseId(input.songId, 'input.songId') }),
    cancelOrder: (_root, { orderId }, ctx) => ctx.service.cancelOrder(ctx.principal, parseId(orderId, 'orderId')),
    distributeRevenue: (_root, { songId, amountCents, periodLabel }, ctx) =>
      ctx.service.distributeRevenue(ctx.principal, parseId(songId, 'songId'), amountCents, periodLabel),
  },
  Portfolio: {
    holdings: (portfolio, { first }) => portfolio.holdings.slice(0, pageSize(first, MAX_PAGE_SIZE)),
  },
  PlaceOrderResult: {
    // The order is placed by now: a first out of range is clamped rather than refused.
    trades: (result, { first }) => result.trades.slice(0, Math.min(Math.max(first ?? MAX_PAGE_SIZE, 0), MAX_PAGE_SIZE)),
  },
  ShareOffering: {
    __resolveReference: referenceById((id, ctx: OwnershipContext) => ctx.loaders.offering.load(id)),
    status: (o) => offeringStatus(o),
    totalShares: (o) => o.total_shares,
    sharesRemaining: (o) => o.shares_remaining,
    pricePerShareCents: (o) => o.price_per_share_cents,
    revenueShareBps: (o) => o.revenue_share_bps,
    closesAt: (o) => o.closes_at,
    song: (o) => ({ id: o.song_id }),
  },
  Holding: {
    reservedQuantity: (h) => h.reserved_quantity,
    averageCostCents: (h) => (h.quantity > 0 ? Math.round(Number(h.cost_cents) / h.quantity) : 0),
    marketValueCents: (h, _args, ctx) => holdingValue(ctx, h),
    song: (h) => ({ id: h.song_id }),
  },
  Order: {
    __resolveReference: referenceById(async (id, ctx: OwnershipContext) => {
      const row = await ctx.loaders.order.load(id);
      return row && isSelfOrAdmin(ctx.principal, row.user_id) ? row : null;
    }),
    filledQuantity: (o) => o.filled_quantity,
    limitPriceCents: (o) => o.limit_price_cents,
    averageFillPriceCents: (o) => (o.filled_quantity > 0 ? Math.round(Number(o.fill_value_cents) / o.filled_quantity) : null),
    clientOrderId: (o) => o.client_order_id,
    createdAt: (o) => o.created_at,
    song: (o) => ({ id: o.song_id }),
  },
  Trade: {
    priceCents: (t) => t.price_cents,
    executedAt: (t) => t.executed_at,
    song: (t) => ({ id: t.song_id }),
  },
  RevenueDistribution: {
    totalCents: (d) => Number(d.total_cents),
    holderCount: (d) => d.holder_count,
    periodLabel: (d) => d.period_label,
    song: (d) => ({ id: d.song_id }),
  },
  Song: {
    __resolveReference: keyOnlyReference,
    market: (song) => ({ songId: song.id }),
  },
  SongMarket: {
    lastTradePriceCents: async (m, _args, ctx) => (await ctx.loaders.marketStats.load(m.songId)).lastTradePriceCents,
    volume24h: async (m, _args, ctx) => (await ctx.loaders.marketStats.load(m.songId)).volume24h,
    high24hCents: async (m, _args, ctx) => (await ctx.loaders.marketStats.load(m.songId)).high24hCents,
    low24hCents: async (m, _args, ctx) => (await ctx.loaders.marketStats.load(m.songId)).low24hCents,
    twapCents: async (m, { windowMinutes }, ctx) => {
      const minutes = Math.min(Math.max(windowMinutes ?? 60, 1), 7 * 24 * 60);
      const { before, inWindow } = await ctx.loaders.twapInputs.load({ songId: m.songId, minutes });
      return twap(before, inWindow, new Date(), minutes);
    },
    offering: (m, _args, ctx) => ctx.loaders.offeringBySong.load(m.songId),
  },
  User: {
    __resolveReference: keyOnlyReference,
    tradingAccount: async (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.service.tradingAccount(user.id);
    },
    portfolio: async (user, _args, ctx) => {
      ownData(ctx, user.id);
      const holdings = await ctx.service.holdings(user.id);
      const values = await Promise.all(holdings.map((h) => holdingValue(ctx, h)));
      return { holdings, totalValueCents: values.reduce((a, b) => a + b, 0) };
    },
    openOrders: async (user, { first }, ctx) => {
      ownData(ctx, user.id);
      const size = pageSize(first, MAX_PAGE_SIZE);
      return ctx.service.openOrders(user.id, size);
    },
  },
};
