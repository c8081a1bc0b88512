import {
  badInput,
  DateTimeScalar,
  decodeCursor,
  encodeCursor,
  forbidden,
  idOrNull,
  isSelfOrAdmin,
  keyOnlyReference,
  notFound,
  pageSize,
  parseId,
  referenceById,
  type BaseRequestContext,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import { issueQr } from './domain/door-keys.ts';
import { saleGate } from './domain/sales.ts';
import type { Loaders } from './loaders.ts';
import type { LoyaltyService } from './service.ts';
import * as store from './store.ts';
import type { TicketRow } from './store.ts';

export interface LoyaltyContext extends BaseRequestContext {
  loaders: Loaders;
  service: LoyaltyService;
}

/** An entity other subgraphs own, known here by its key. */
export interface EntityRef {
  id: string;
}

type EventCursor = [startsAt: string, id: string];
const isEventCursor = (v: unknown): v is EventCursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && idOrNull(v[1]) !== null;

/** The holder's current QR (this 30 s rotation), computed once per ticket and request. */
const qrs = new WeakMap<TicketRow, { qr: string; expiresAt: Date } | null>();
async function qrOf(ticket: TicketRow, ctx: LoyaltyContext) {
  if (!ctx.principal || ctx.principal.userId !== ticket.holder_id) return null;
  if (!qrs.has(ticket)) {
    const key = await ctx.loaders.privateKey.load(ticket.event_id);
    qrs.set(
      ticket,
      key ? issueQr(key, { eventId: ticket.event_id, ticketId: ticket.id, holderId: ticket.holder_id, generation: ticket.generation }, Date.now()) : null,
    );
  }
  return qrs.get(ticket) ?? null;
}

export const resolvers: Resolvers<LoyaltyContext> = {
  DateTime: DateTimeScalar,
  Query: {
    upcomingEvents: async (_root, { first, after }, _ctx) => {
      const limit = pageSize(first);
      const cursor = decodeCursor(after, isEventCursor);
      if (after && !cursor) throw badInput('after is not a cursor of this list', 'after');
      const found = await store.upcomingEvents(_ctx.loaders.db, new Date(), cursor, limit);
      const edges = found.slice(0, limit).map((node) => ({ cursor: encodeCursor([node.starts_at.toISOString(), node.id]), node }));
      return { edges, pageInfo: { hasNextPage: found.length > limit, endCursor: edges.at(-1)?.cursor ?? null } };
    },
    event: (_root, { id }, ctx) => {
      const eventId = idOrNull(id);
      return eventId ? ctx.loaders.event.load(eventId) : null;
    },
    ticketPurchase: async (_root, { id }, ctx) => {
      const purchaseId = idOrNull(id);
      if (!purchaseId || !ctx.principal) return null;
      const [purchase] = await store.purchasesByIds(ctx.loaders.db, [purchaseId]);
      return purchase && isSelfOrAdmin(ctx.principal, purchase.user_id) ? purchase : null;
    },
    wristbandScan: async (_root, { eventId, uid, staffToken }, ctx) => {
      const scan = await ctx.service.scanWristband(ctx.principal, parseId(eventId, 'eventId'), uid, staffToken);
      return { result: scan.result, ticket: scan.ticketId ? await ctx.loaders.ticket.load(scan.ticketId) : null };
    },
  },
  Mutation: {
    createEvent: (_root, { input }, ctx) =>
      ctx.service.createEvent(ctx.principal, {
        title: input.title,
        venue: input.venue,
        startsAt: input.startsAt,
        ticketTypes: input.ticketTypes.map((t) => ({
          name: t.name,
          priceCents: t.priceCents,
          capacity: t.capacity,
          saleStartsAt: t.saleStartsAt,
          presaleStartsAt: t.presaleStartsAt ?? null,
          presaleMinTier: t.presaleMinTier ?? null,
          presaleForShareholders: t.presaleForShareholders ?? false,
        })),
      }),
    buyTickets: (_root, { ticketTypeId, quantity, clientPurchaseId }, ctx) =>
      ctx.service.buyTickets(ctx.principal, parseId(ticketTypeId, 'ticketTypeId'), quantity, clientPurchaseId),
    transferTicket: (_root, { ticketId, toUserId }, ctx) =>
      ctx.service.transferTicket(ctx.principal, parseId(ticketId, 'ticketId'), parseId(toUserId, 'toUserId')),
    issueStaffToken: (_root, { eventId, label }, ctx) => ctx.service.issueStaffToken(ctx.principal, parseId(eventId, 'eventId'), label),
    checkIn: (_root, { eventId, qr, deviceId, staffToken }, ctx) => ctx.service.checkIn(ctx.principal, parseId(eventId, 'eventId'), qr, deviceId, staffToken),
    syncOfflineCheckIns: (_root, { eventId, deviceId, checkIns, staffToken }, ctx) =>
      ctx.service.syncOfflineCheckIns(
        ctx.principal,
        parseId(eventId, 'eventId'),
        deviceId,
        checkIns.map((c) => ({ qr: c.qr, admittedAt: c.admittedAt })),
        staffToken,
      ),
    bindWristband: (_root, { ticketId, uid, staffToken }, ctx) => ctx.service.bindWristband(ctx.principal, parseId(ticketId, 'ticketId'), uid, staffToken),
    revokeWristband: (_root, { eventId, uid, staffToken }, ctx) => ctx.service.revokeWristband(ctx.principal, parseId(eventId, 'eventId'), uid, staffToken),
  },
  Event: {
    __resolveReference: referenceById((id, ctx: LoyaltyContext) => ctx.loaders.event.load(id)),
    startsAt: (e) => e.starts_at,
    artist: (e) => ({ id: e.artist_id }),
    doorPublicKey: (e) => e.door_public_key,
    ticketTypes: (e, _args, ctx) => ctx.loaders.ticketTypesOfEvent.load(e.id),
    admittedCount: (e, _args, ctx) => ctx.service.admittedCount(ctx.principal, e),
    checkInConflicts: (e, { first }, ctx) => ctx.service.checkInConflicts(ctx.principal, e, pageSize(first)),
  },
  TicketType: {
    __resolveReference: referenceById((id, ctx: LoyaltyContext) => ctx.loaders.ticketType.load(id)),
    priceCents: (t) => t.price_cents,
    remaining: (t) => t.capacity - t.sold,
    saleStartsAt: (t) => t.sale_starts_at,
    presaleStartsAt: (t) => t.presale_starts_at,
    presaleMinTier: (t) => t.presale_min_tier,
    presaleForShareholders: (t) => t.presale_for_shareholders,
    onSaleForMe: async (t, _args, ctx) => {
      if (t.capacity - t.sold <= 0) return false;
      const event = await ctx.loaders.event.load(t.event_id);
      if (!event || event.starts_at <= new Date()) return false;
      const fan = ctx.principal ? await ctx.loaders.fanTier.load(`${ctx.principal.userId}|${event.artist_id}`) : { level: 'NONE' as const, shares: 0 };
      const gate = saleGate(
        {
          saleStartsAt: t.sale_starts_at,
          presaleStartsAt: t.presale_starts_at,
          presaleMinTier: t.presale_min_tier,
          presaleForShareholders: t.presale_for_shareholders,
        },
        new Date(),
        fan,
      );
      return gate === 'OPEN' || gate === 'PRESALE';
    },
    event: async (t, _args, ctx) => {
      const event = await ctx.loaders.event.load(t.event_id);
      if (!event) throw notFound('Event');
      return event;
    },
  },
  TicketPurchase: {
    amountCents: (p) => p.amount_cents,
    failureReason: (p) => p.failure_reason,
    ticketType: async (p, _args, ctx) => (await ctx.loaders.ticketType.load(p.ticket_type_id))!,
    tickets: (p, _args, ctx) => ctx.loaders.ticketsOfPurchase.load(p.id),
  },
  Ticket: {
    // A ticket resolves for its holder or an ADMIN only, whatever path reaches it.
    __resolveReference: referenceById(async (id, ctx: LoyaltyContext) => {
      const ticket = await ctx.loaders.ticket.load(id);
      return ticket && isSelfOrAdmin(ctx.principal, ticket.holder_id) ? ticket : null;
    }),
    status: (t) => (t.admitted_at ? 'CHECKED_IN' : 'VALID'),
    event: async (t, _args, ctx) => (await ctx.loaders.event.load(t.event_id))!,
    ticketType: async (t, _args, ctx) => (await ctx.loaders.ticketType.load(t.ticket_type_id))!,
    qr: async (t, _args, ctx) => (await qrOf(t, ctx))?.qr ?? null,
    qrExpiresAt: async (t, _args, ctx) => (await qrOf(t, ctx))?.expiresAt ?? null,
    admittedAt: (t) => t.admitted_at,
    wristbandBound: (t, _args, ctx) => ctx.loaders.wristbandBound.load(t.id),
  },
  CheckInConflict: {
    ticket: async (c, _args, ctx) => (await ctx.loaders.ticket.load(c.ticket_id))!,
    deviceId: (c) => c.device_id,
    admittedAt: (c) => c.admitted_at,
    winningDeviceId: (c) => c.winning_device_id,
    winningAdmittedAt: (c) => c.winning_admitted_at,
  },
  User: {
    __resolveReference: keyOnlyReference,
    tickets: (user, { first }, ctx) => {
      if (!isSelfOrAdmin(ctx.principal, user.id)) throw forbidden('Tickets belong to their holder');
      return ctx.loaders.ticketsOfHolder.load(`${pageSize(first)}|${user.id}`);
    },
    fanTier: async (user, { artistId }, ctx) => {
      if (!isSelfOrAdmin(ctx.principal, user.id)) throw forbidden('A fan tier belongs to its fan');
      const { level, score, nextLevelAt } = await ctx.loaders.fanTier.load(`${user.id}|${parseId(artistId, 'artistId')}`);
      return { level, score, nextLevelAt };
    },
  },
  Artist: {
    __resolveReference: keyOnlyReference,
    events: (artist, { first }, ctx) => ctx.loaders.eventsOfArtist.load(`${pageSize(first)}|${artist.id}`),
  },
};
