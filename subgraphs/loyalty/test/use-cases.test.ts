// loyalty's use cases on loyalty's own schema, with other contexts' events injected: no gateway,
// no ownership. The purchase saga's answers are injected as ownership would send them; two
// LoyaltyService instances on two Persistence handles stand for two replicas.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLiveEvents, ProjectionWaits, openPersistence, type Principal } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { ArtistCreated, SongPublished } from '@vibestream/contracts/catalog';
import { OfferingSharesBought, TicketPaymentFailed, TicketPaymentSucceeded, TradeExecuted } from '@vibestream/contracts/ownership';
import { issueQr } from '../src/domain/door-keys.ts';
import { loyaltyHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { LoyaltyService } from '../src/service.ts';

let h: ContextHarness;
let replicas: LoyaltyService[];

beforeAll(async () => {
  h = await openContext({ name: 'loyalty', migrations });
  const projections = new ProjectionWaits({ group: 'loyalty', timeoutMs: 0, live: new MemoryLiveEvents(), log: h.log });
  const second = openPersistence(h.orm, { source: 'loyalty' });
  replicas = [new LoyaltyService({ db: h.db, projections, paymentWaitMs: 0 }), new LoyaltyService({ db: second, projections, paymentWaitMs: 0 })];
  h.consume(loyaltyHandlers(h.db, replicas[0]!));
});

afterAll(async () => {
  await h?.close();
});

const principal = (roles: Principal['roles'] = ['FAN'], userId: string = randomUUID()): Principal => ({
  userId,
  roles,
  sessionId: randomUUID(),
  expiresAt: Date.now() / 1000 + 3600,
});
const inHours = (n: number) => new Date(Date.now() + n * 3_600_000);
const count = async (sql: string, params: unknown[]) => Number((await h.orm.em.fork().getConnection().execute<{ n: string }[]>(sql, params))[0]!.n);

async function concert(capacity: number, priceCents: number) {
  const artist = principal(['FAN', 'ARTIST']);
  await h.inject(ArtistCreated, { artistId: randomUUID(), userId: artist.userId, name: 'Replica Band' });
  const event = await replicas[0]!.createEvent(artist, {
    title: 'Two Replicas Live',
    venue: 'Hall',
    startsAt: inHours(24),
    ticketTypes: [{ name: 'GA', priceCents, capacity, saleStartsAt: inHours(-1) }],
  });
  const [type] = await h.orm.em.fork().getConnection().execute<{ id: string }[]>('select id from ticket_types where event_id = ?', [event.id]);
  return { artist, event, typeId: type!.id };
}

describe('the purchase saga on two replicas', () => {
  it('never reserves more than capacity, issues on success, releases on failure, once each however often told', async () => {
    const { typeId } = await concert(15, 1_000);
    const fans = Array.from({ length: 40 }, () => principal());
    const outcomes = await Promise.allSettled(fans.map((f, i) => replicas[i % 2]!.buyTickets(f, typeId, 1, `race-${i}`)));
    const pending = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(pending).toHaveLength(15);
    expect(pending.every((p) => p.status === 'PENDING')).toBe(true);
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.extensions.code)).toEqual(Array(25).fill('CONFLICT'));
    expect((await h.recorded('loyalty.ticket.reserved.v1')).filter((e) => e.payload.ticketTypeId === typeId)).toHaveLength(15);

    for (const [i, p] of pending.entries()) {
      if (i < 5) await h.inject(TicketPaymentFailed, { purchaseId: p.id, userId: p.user_id, reason: 'INSUFFICIENT_FUNDS' }, { times: 2 });
      else await h.inject(TicketPaymentSucceeded, { purchaseId: p.id, userId: p.user_id, amountCents: 1_000 }, { times: 3 });
    }
    expect(await count('select sold as n from ticket_types where id = ?', [typeId])).toBe(10);
    expect(await count('select count(*) as n from tickets where ticket_type_id = ?', [typeId])).toBe(10);
    expect(await count(`select count(*) as n from purchases where ticket_type_id = ? and status = 'FAILED'`, [typeId])).toBe(5);
    // A late answer for a settled purchase changes nothing.
    await h.inject(TicketPaymentFailed, { purchaseId: pending[9]!.id, userId: pending[9]!.user_id, reason: 'INSUFFICIENT_FUNDS' });
    expect(await count('select sold as n from ticket_types where id = ?', [typeId])).toBe(10);

    // The same clientPurchaseId on either replica answers the same purchase, or its failure.
    const buyerOf = (userId: string) => fans.find((f) => f.userId === userId)!;
    const paid = pending[9]!;
    expect(await replicas[1]!.buyTickets(buyerOf(paid.user_id), typeId, 1, paid.client_purchase_id)).toMatchObject({ id: paid.id, status: 'CONFIRMED' });
    const unpaid = pending[0]!;
    const refused = await replicas[1]!
      .buyTickets(buyerOf(unpaid.user_id), typeId, 1, unpaid.client_purchase_id)
      .catch((e: { extensions: { code: string } }) => e.extensions.code);
    expect(refused).toBe('INSUFFICIENT_FUNDS');
    expect(await count('select sold as n from ticket_types where id = ?', [typeId])).toBe(10);
  });
});

describe('fan signals', () => {
  it('count shares bought from an offering (once per purchase, however often delivered) and on the book, less those sold', async () => {
    const [artistId, artistUserId, songId, fan, other] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await h.inject(ArtistCreated, { artistId, userId: artistUserId, name: 'Signal Band' });
    await h.inject(SongPublished, {
      songId,
      artistId,
      artistUserId,
      title: 'Signals',
      genre: 'Pop',
      durationSeconds: 60,
      publishedAt: new Date().toISOString(),
    });
    await h.inject(OfferingSharesBought, { offeringId: randomUUID(), songId, userId: fan, quantity: 7, costCents: 700 }, { times: 2 });
    expect((await replicas[0]!.fanTier(fan, artistId)).shares).toBe(7);
    const trade = {
      tradeId: randomUUID(),
      songId,
      buyerId: other,
      sellerId: fan,
      buyOrderId: randomUUID(),
      sellOrderId: randomUUID(),
      priceCents: 120,
      quantity: 3,
    };
    await h.inject(TradeExecuted, { ...trade, executedAt: new Date().toISOString() });
    expect((await replicas[0]!.fanTier(fan, artistId)).shares).toBe(4);
    expect((await replicas[0]!.fanTier(other, artistId)).shares).toBe(3);
  });
});

describe('offline sync', () => {
  it('lets the earliest admission win whatever order doors sync in, over an online scan too', async () => {
    const { artist, event, typeId } = await concert(5, 0);
    const fan = principal();
    const purchase = await replicas[0]!.buyTickets(fan, typeId, 1, 'free');
    expect(purchase.status).toBe('CONFIRMED');
    const [ticket] = await h.orm.em
      .fork()
      .getConnection()
      .execute<{ id: string; generation: number }[]>('select id, generation from tickets where purchase_id = ?', [purchase.id]);
    const [keys] = await h.orm.em
      .fork()
      .getConnection()
      .execute<{ door_private_key: string }[]>('select door_private_key from events where id = ?', [event.id]);
    const qr = issueQr(
      keys!.door_private_key,
      { eventId: event.id, ticketId: ticket!.id, holderId: fan.userId, generation: ticket!.generation },
      Date.now(),
    ).qr;

    expect((await replicas[0]!.checkIn(artist, event.id, qr, 'gate-online')).result).toBe('ADMITTED');
    const earlier = new Date(Date.now() - 3_000);
    const [a] = await replicas[1]!.syncOfflineCheckIns(artist, event.id, 'door-a', [{ qr, admittedAt: earlier }]);
    expect(a!.result).toBe('ADMITTED');
    const [b] = await replicas[0]!.syncOfflineCheckIns(artist, event.id, 'door-b', [{ qr, admittedAt: new Date(earlier.getTime() + 500) }]);
    expect(b!.result).toBe('CONFLICT');
    const conflicts = await replicas[0]!.checkInConflicts(artist, event, 10);
    expect(conflicts.map((c) => c.device_id).sort()).toEqual(['door-b', 'gate-online']);
    expect(conflicts.every((c) => c.winning_device_id === 'door-a')).toBe(true);
    // A code that was not valid when the door says it admitted it is REJECTED.
    const [stale] = await replicas[0]!.syncOfflineCheckIns(artist, event.id, 'door-c', [{ qr, admittedAt: new Date(Date.now() - 120_000) }]);
    expect(stale).toMatchObject({ result: 'REJECTED', reason: 'NOT_YET_VALID' });
  });
});
