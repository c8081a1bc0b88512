import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import {
  AppError,
  ErrorCode,
  badInput,
  conflict,
  forbidden,
  notFound,
  requireAuth,
  requireRole,
  unauthenticated,
  type Persistence,
  type Principal,
  type ProjectionWaits,
  type Tx,
} from '@vibestream/platform';
import { ArtistCreated } from '@vibestream/contracts/catalog';
import { UserRegistered } from '@vibestream/contracts/identity';
import { TicketReserved } from '@vibestream/contracts/loyalty';
import { decideAdmission, MAX_OFFLINE_CHECK_INS } from './domain/admissions.ts';
import { newDoorKey } from './domain/door-keys.ts';
import { MAX_TICKETS_PER_PURCHASE, saleGate, validateEventInput, type EventInput } from './domain/sales.ts';
import { fanScore, tierOf, type FanTier } from './domain/tiers.ts';
import { doorPublicKey, verifyTicketQr, QR_CLOCK_SKEW_SECONDS, type QrClaims } from './door/verify.ts';
import * as store from './store.ts';
import type { EventRow, PurchaseRow, TicketRow } from './store.ts';

export type { EventRow, PurchaseRow, TicketRow, TicketTypeRow, ConflictRow } from './store.ts';

/** How long buyTickets waits for ownership's answer before it answers PENDING. */
export const PAYMENT_WAIT_MS = 10_000;

export interface CheckInModel {
  result: 'ADMITTED' | 'ALREADY_ADMITTED' | 'REJECTED' | 'CONFLICT';
  reason: string | null;
  ticket: TicketRow | null;
}

export interface OfflineCheckInModel extends CheckInModel {
  qr: string;
}

export interface WristbandScanModel {
  result: 'VALID' | 'REVOKED' | 'UNKNOWN';
  ticketId: string | null;
}

export interface StaffTokenModel {
  token: string;
  eventId: string;
  label: string;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** An NFC UID: 4 to 10 bytes in hex, colons allowed; kept upper-case without colons. */
export function parseWristbandUid(uid: string): string {
  const normalised = uid.replace(/[:\s-]/g, '').toUpperCase();
  if (!/^[0-9A-F]{8,20}$/.test(normalised) || normalised.length % 2 !== 0) throw badInput('uid must be an NFC UID: 4 to 10 bytes in hex', 'uid');
  return normalised;
}

function parseDeviceId(deviceId: string): string {
  const trimmed = deviceId.trim();
  if (trimmed.length < 1 || trimmed.length > 100) throw badInput('deviceId must be 1 to 100 characters', 'deviceId');
  return trimmed;
}

/** loyalty's use cases: each change runs through `db.useCase` (or in a consumer's Tx); the SQL is in store.ts. */
export class LoyaltyService {
  private readonly db: Persistence;
  private readonly projections: ProjectionWaits;
  private readonly now: () => Date;
  private readonly paymentWaitMs: number;
  /** buyTickets calls of this process waiting for their purchase to settle, by purchase id. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly doorKeys = new Map<string, KeyObject>();
  private readonly events = new Map<string, EventRow>();

  constructor(deps: { db: Persistence; projections: ProjectionWaits; now?: () => Date; paymentWaitMs?: number }) {
    this.db = deps.db;
    this.projections = deps.projections;
    this.now = deps.now ?? (() => new Date());
    this.paymentWaitMs = deps.paymentWaitMs ?? PAYMENT_WAIT_MS;
  }

  // ---- Fan tiers ----

  async fanTier(userId: string, artistId: string): Promise<FanTier & { shares: number }> {
    const signals = await store.signalsFor(this.db.reader(), userId, artistId);
    return { ...tierOf(fanScore(signals)), shares: signals.shares };
  }

  // ---- Events ----

  async createEvent(principal: Principal | null, input: EventInput): Promise<EventRow> {
    const p = requireRole(principal, 'ARTIST');
    const valid = validateEventInput(input, this.now());
    const reader = this.db.reader();
    const artists = await this.projections.find(ArtistCreated, p.userId, async () => {
      const found = await store.artistsOfUser(reader, p.userId);
      return found.length ? found : undefined;
    });
    if (!artists) throw forbidden('Create your artist profile first');
    const artistId = artists[0]!.artist_id;
    const key = newDoorKey();
    return this.db.useCase(async (tx) => {
      const event = await store.insertEvent(tx, {
        id: randomUUID(),
        artistId,
        artistUserId: p.userId,
        title: valid.title,
        venue: valid.venue,
        startsAt: valid.startsAt,
        publicKey: key.publicKey,
        privateKey: key.privateKey,
      });
      for (const [position, t] of valid.ticketTypes.entries()) {
        await store.insertTicketType(tx, {
          id: randomUUID(),
          eventId: event.id,
          position,
          name: t.name,
          priceCents: t.priceCents,
          capacity: t.capacity,
          saleStartsAt: t.saleStartsAt,
          presaleStartsAt: t.presaleStartsAt ?? null,
          presaleMinTier: t.presaleMinTier ?? null,
          presaleForShareholders: t.presaleForShareholders ?? false,
        });
      }
      return event;
    });
  }

  async issueStaffToken(principal: Principal | null, eventId: string, label: string): Promise<StaffTokenModel> {
    const p = requireAuth(principal);
    const event = await this.event(eventId);
    if (event.artist_user_id !== p.userId && !p.roles.includes('ADMIN')) throw forbidden('Only the event’s artist issues its staff tokens');
    const name = label.trim();
    if (name.length < 1 || name.length > 100) throw badInput('label must be 1 to 100 characters', 'label');
    const token = `vsd_${randomBytes(24).toString('base64url')}`;
    await this.db.useCase((tx) => store.insertStaffToken(tx, { hash: hashToken(token), eventId, label: name }));
    return { token, eventId, label: name };
  }

  /** An event's row; the fields doors need (artist, door key) never change, so rows are kept here, boundedly. */
  private async event(eventId: string): Promise<EventRow> {
    const known = this.events.get(eventId);
    if (known) return known;
    const [event] = await store.eventsByIds(this.db.reader(), [eventId]);
    if (!event) throw notFound('Event');
    if (this.events.size >= 1000) this.events.delete(this.events.keys().next().value!);
    this.events.set(eventId, event);
    return event;
  }

  /** A door device: the event's artist, an ADMIN, or a staff token of this event. */
  private async authorizeDoor(principal: Principal | null, staffToken: string | null | undefined, event: EventRow): Promise<void> {
    if (principal && (principal.userId === event.artist_user_id || principal.roles.includes('ADMIN'))) return;
    if (staffToken) {
      if (staffToken.length <= 200 && (await store.staffTokenEvent(this.db.reader(), hashToken(staffToken))) === event.id) return;
      throw forbidden('This staff token is not valid for this event');
    }
    if (!principal) throw unauthenticated();
    throw forbidden('Only the event’s artist or its staff operate its doors');
  }

  private publicKeyOf(event: EventRow): KeyObject {
    let key = this.doorKeys.get(event.id);
    if (!key) {
      key = doorPublicKey(event.door_public_key);
      if (this.doorKeys.size > 1000) this.doorKeys.clear();
      this.doorKeys.set(event.id, key);
    }
    return key;
  }

  // ---- Buying: reserve here, pay in ownership, issue or release here ----

  async buyTickets(principal: Principal | null, ticketTypeId: string, quantity: number, clientPurchaseId: string): Promise<PurchaseRow> {
    const p = requireAuth(principal);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_TICKETS_PER_PURCHASE)
      throw badInput(`quantity must be 1 to ${MAX_TICKETS_PER_PURCHASE}`, 'quantity');
    const clientId = clientPurchaseId.trim();
    if (clientId.length < 1 || clientId.length > 100) throw badInput('clientPurchaseId must be 1 to 100 characters', 'clientPurchaseId');
    const reader = this.db.reader();
    const earlier = await store.purchaseByClientId(reader, p.userId, clientId);
    if (earlier) return this.outcome(this.sameRequest(earlier, ticketTypeId, quantity));

    const [type] = await store.ticketTypesByIds(reader, [ticketTypeId]);
    if (!type) throw notFound('Ticket type');
    const event = await this.event(type.event_id);
    const now = this.now();
    if (event.starts_at <= now) throw forbidden('This event has started: its sale is closed');
    const tier = await this.fanTier(p.userId, event.artist_id);
    const gate = saleGate(
      {
        saleStartsAt: type.sale_starts_at,
        presaleStartsAt: type.presale_starts_at,
        presaleMinTier: type.presale_min_tier,
        presaleForShareholders: type.presale_for_shareholders,
      },
      now,
      { level: tier.level, shares: tier.shares },
    );
    if (gate === 'NOT_OPEN') throw forbidden('The sale of this ticket type is not open');
    if (gate === 'TIER_TOO_LOW') throw forbidden(`The presale is open to fans of tier ${type.presale_min_tier ?? 'holders'} and above`);

    const amountCents = type.price_cents * quantity;
    const created = await this.db.useCase(async (tx) => {
      const purchase = await store.insertPurchase(tx, {
        id: randomUUID(),
        userId: p.userId,
        clientPurchaseId: clientId,
        ticketTypeId,
        quantity,
        amountCents,
        status: amountCents === 0 ? 'CONFIRMED' : 'PENDING',
      });
      // The same clientPurchaseId, concurrently: the other call's purchase stands.
      if (!purchase) return undefined;
      if (!(await store.reserveCapacity(tx, ticketTypeId, quantity))) throw conflict('Sold out: not enough tickets remain');
      if (amountCents === 0) await this.issue(tx, purchase, event.id);
      else
        tx.outbox.record(TicketReserved, {
          purchaseId: purchase.id,
          userId: p.userId,
          artistUserId: event.artist_user_id,
          ticketTypeId,
          quantity,
          amountCents,
          reservedAt: now.toISOString(),
        });
      return purchase;
    });
    if (created) return this.outcome(created);
    const other = await store.purchaseByClientId(reader, p.userId, clientId);
    if (!other) throw conflict('Sold out: not enough tickets remain');
    return this.outcome(this.sameRequest(other, ticketTypeId, quantity));
  }

  private sameRequest(purchase: PurchaseRow, ticketTypeId: string, quantity: number): PurchaseRow {
    if (purchase.ticket_type_id !== ticketTypeId || purchase.quantity !== quantity)
      throw badInput('clientPurchaseId was already used for another purchase', 'clientPurchaseId');
    return purchase;
  }

  /** Waits (bounded) for a PENDING purchase to settle; a failed payment is the payment's error. */
  private async outcome(purchase: PurchaseRow): Promise<PurchaseRow> {
    let current = purchase;
    const deadline = Date.now() + this.paymentWaitMs;
    while (current.status === 'PENDING' && Date.now() < deadline) {
      await this.settledOrTimeout(current.id, Math.min(250, deadline - Date.now()));
      const [again] = await store.purchasesByIds(this.db.reader(), [current.id]);
      if (again) current = again;
    }
    if (current.status === 'FAILED') {
      const reason = current.failure_reason ?? 'PAYMENT_FAILED';
      throw new AppError(ErrorCode.INSUFFICIENT_FUNDS, 'Your trading-account cash does not cover these tickets: nothing was charged', {
        reason,
        purchaseId: current.id,
      });
    }
    return current;
  }

  private settledOrTimeout(purchaseId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(purchaseId) ?? new Set();
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiting.delete(purchaseId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      set.add(done);
      this.waiting.set(purchaseId, set);
    });
  }

  /** After a payment answer's transaction committed: wakes this process's buyTickets waiting for it. */
  settled(purchaseId: string): void {
    for (const wake of [...(this.waiting.get(purchaseId) ?? [])]) wake();
  }

  private async issue(tx: Tx, purchase: PurchaseRow, eventId: string): Promise<void> {
    await store.insertTickets(
      tx,
      Array.from({ length: purchase.quantity }, () => ({
        id: randomUUID(),
        purchaseId: purchase.id,
        ticketTypeId: purchase.ticket_type_id,
        eventId,
        holderId: purchase.user_id,
      })),
    );
  }

  /** ownership debited the purchase: its tickets are issued (once). */
  async paymentSucceeded(tx: Tx, purchaseId: string): Promise<void> {
    const purchase = await store.settlePurchase(tx, purchaseId, 'CONFIRMED', null);
    if (!purchase) return;
    const eventId = await store.eventOfTicketType(tx, purchase.ticket_type_id);
    await this.issue(tx, purchase, eventId!);
  }

  /** ownership could not debit the purchase: its reservation is released (once). */
  async paymentFailed(tx: Tx, purchaseId: string, reason: string): Promise<void> {
    const purchase = await store.settlePurchase(tx, purchaseId, 'FAILED', reason);
    if (purchase) await store.releaseCapacity(tx, purchase.ticket_type_id, purchase.quantity);
  }

  // ---- Transfers ----

  async transferTicket(principal: Principal | null, ticketId: string, toUserId: string): Promise<TicketRow> {
    const p = requireAuth(principal);
    if (toUserId === p.userId) throw badInput('toUserId is the holder already', 'toUserId');
    const reader = this.db.reader();
    const exists = await this.projections.find(UserRegistered, toUserId, () => store.userExists(reader, toUserId));
    if (!exists) throw notFound('User');
    return this.db.useCase(async (tx) => {
      const ticket = await store.lockTicket(tx, ticketId);
      if (!ticket) throw notFound('Ticket');
      if (ticket.holder_id !== p.userId) throw forbidden('Only the ticket’s holder transfers it');
      if (ticket.admitted_at) throw conflict('This ticket was already checked in');
      const moved = await store.transferTicket(tx, ticketId, p.userId, toUserId);
      if (!moved) throw conflict('This ticket changed meanwhile');
      return moved;
    });
  }

  // ---- Check-in ----

  async checkIn(principal: Principal | null, eventId: string, qr: string, deviceId: string, staffToken?: string | null): Promise<CheckInModel> {
    const device = parseDeviceId(deviceId);
    const event = await this.event(eventId);
    await this.authorizeDoor(principal, staffToken, event);
    const now = this.now();
    const verdict = verifyTicketQr(qr, { publicKey: this.publicKeyOf(event), eventId, nowMs: now.getTime() });
    if (!verdict.ok) return { result: 'REJECTED', reason: verdict.reason, ticket: null };
    const claims = verdict.claims;
    return this.db.useCase(async (tx) => {
      const admitted = await store.admitOnline(tx, {
        admissionId: randomUUID(),
        ticketId: claims.ticketId,
        eventId,
        holderId: claims.holderId,
        generation: claims.generation,
        deviceId: device,
        at: now,
      });
      if (admitted) return { result: 'ADMITTED', reason: null, ticket: admitted };
      const [ticket] = await store.ticketsByIds(tx, [claims.ticketId]);
      const stale = this.staleness(ticket, claims, eventId);
      if (stale) return stale;
      return { result: 'ALREADY_ADMITTED', reason: null, ticket: ticket! };
    });
  }

  /** REJECTED when the QR's ticket is unknown here, or its holder or generation is no longer current. */
  private staleness(ticket: TicketRow | undefined, claims: QrClaims, eventId: string): CheckInModel | null {
    if (!ticket || ticket.event_id !== eventId) return { result: 'REJECTED', reason: 'UNKNOWN_TICKET', ticket: null };
    if (ticket.holder_id !== claims.holderId || ticket.generation !== claims.generation) return { result: 'REJECTED', reason: 'TRANSFERRED', ticket };
    return null;
  }

  async syncOfflineCheckIns(
    principal: Principal | null,
    eventId: string,
    deviceId: string,
    checkIns: readonly { qr: string; admittedAt: Date }[],
    staffToken?: string | null,
  ): Promise<OfflineCheckInModel[]> {
    const device = parseDeviceId(deviceId);
    if (checkIns.length > MAX_OFFLINE_CHECK_INS) throw badInput(`at most ${MAX_OFFLINE_CHECK_INS} check-ins per sync`, 'checkIns');
    const event = await this.event(eventId);
    await this.authorizeDoor(principal, staffToken, event);
    const key = this.publicKeyOf(event);
    const latest = this.now().getTime() + QR_CLOCK_SKEW_SECONDS * 1000;
    const outcomes: OfflineCheckInModel[] = [];
    for (const { qr, admittedAt } of checkIns) {
      if (admittedAt.getTime() > latest) {
        outcomes.push({ qr, result: 'REJECTED', reason: 'NOT_YET_VALID', ticket: null });
        continue;
      }
      // The code had to be valid when the door admitted it.
      const verdict = verifyTicketQr(qr, { publicKey: key, eventId, nowMs: admittedAt.getTime() });
      if (!verdict.ok) {
        outcomes.push({ qr, result: 'REJECTED', reason: verdict.reason, ticket: null });
        continue;
      }
      const claims = verdict.claims;
      const outcome = await this.db.useCase(async (tx): Promise<CheckInModel> => {
        const ticket = await store.lockTicket(tx, claims.ticketId);
        const stale = this.staleness(ticket, claims, eventId);
        if (stale) return stale;
        const mine = await store.admissionOf(tx, ticket!.id, device);
        if (mine) return { result: mine.status, reason: null, ticket: ticket! };
        const winner = ticket!.admitted_at ? { deviceId: ticket!.admitted_device ?? '', admittedAt: ticket!.admitted_at } : null;
        const decision = decideAdmission(winner, { deviceId: device, admittedAt });
        const recordAdmission = (status: 'CONFLICT' | 'ADMITTED') =>
          store.insertAdmission(tx, { id: randomUUID(), ticketId: ticket!.id, eventId, deviceId: device, at: admittedAt, offline: true, status });
        if (decision === 'CONFLICT') {
          await recordAdmission('CONFLICT');
          return { result: 'CONFLICT', reason: 'ADMITTED_EARLIER_ELSEWHERE', ticket: ticket! };
        }
        if (decision === 'SUPERSEDE') await store.demoteWinner(tx, ticket!.id);
        await store.setWinner(tx, ticket!.id, device, admittedAt);
        await recordAdmission('ADMITTED');
        const [updated] = await store.ticketsByIds(tx, [ticket!.id]);
        return { result: 'ADMITTED', reason: null, ticket: updated! };
      });
      outcomes.push({ qr, ...outcome });
    }
    return outcomes;
  }

  async checkInConflicts(principal: Principal | null, event: EventRow, first: number) {
    const p = requireAuth(principal);
    if (p.userId !== event.artist_user_id && !p.roles.includes('ADMIN')) throw forbidden('Only the event’s artist sees its check-ins');
    return store.conflictsOfEvent(this.db.reader(), event.id, first);
  }

  async admittedCount(principal: Principal | null, event: EventRow): Promise<number> {
    const p = requireAuth(principal);
    if (p.userId !== event.artist_user_id && !p.roles.includes('ADMIN')) throw forbidden('Only the event’s artist sees its check-ins');
    return store.admittedCount(this.db.reader(), event.id);
  }

  // ---- Wristbands ----

  async bindWristband(principal: Principal | null, ticketId: string, uid: string, staffToken?: string | null): Promise<TicketRow> {
    const band = parseWristbandUid(uid);
    const [ticket] = await store.ticketsByIds(this.db.reader(), [ticketId]);
    if (!ticket) throw notFound('Ticket');
    const event = await this.event(ticket.event_id);
    await this.authorizeDoor(principal, staffToken, event);
    if (!ticket.admitted_at) throw conflict('Bind a wristband after the ticket is admitted');
    const bound = await this.db.useCase((tx) => store.bindWristband(tx, { id: randomUUID(), eventId: event.id, uid: band, ticketId }));
    if (!bound) throw conflict('This wristband is bound to another ticket of the event, or the ticket already has one');
    return ticket;
  }

  async revokeWristband(principal: Principal | null, eventId: string, uid: string, staffToken?: string | null): Promise<boolean> {
    const band = parseWristbandUid(uid);
    const event = await this.event(eventId);
    await this.authorizeDoor(principal, staffToken, event);
    return this.db.useCase((tx) => store.revokeWristband(tx, eventId, band));
  }

  async scanWristband(principal: Principal | null, eventId: string, uid: string, staffToken?: string | null): Promise<WristbandScanModel> {
    const band = parseWristbandUid(uid);
    const event = await this.event(eventId);
    await this.authorizeDoor(principal, staffToken, event);
    const found = await store.wristbandByUid(this.db.reader(), eventId, band);
    if (!found) return { result: 'UNKNOWN', ticketId: null };
    return { result: found.revoked ? 'REVOKED' : 'VALID', ticketId: found.ticket_id };
  }
}
