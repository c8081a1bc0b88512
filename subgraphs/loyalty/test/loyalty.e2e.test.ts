// loyalty through the gateway, with identity (users), ownership (cash, the purchase saga's debit)
// and the events between them on Redis Streams: the issue's done-when list.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, eventually, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { SongPublished } from '@vibestream/contracts/catalog';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { identitySubgraph } from '@vibestream/identity';
import { ownershipSubgraph } from '@vibestream/ownership';
import { loyaltySubgraph } from '../src/index.ts';
import { verifyTicketQr, QR_WINDOW_SECONDS } from '../src/door/verify.ts';
import {
  BIND,
  BUY,
  CHECK_IN,
  CONFLICTS,
  FAN_TIER,
  MY_TICKETS,
  REVOKE,
  SCAN,
  STAFF_TOKEN,
  SYNC,
  TRANSFER,
  UPCOMING,
  artist,
  eventOnSale,
  fan,
  fans,
  fund,
  type Bought,
  type MyTicket,
} from './helpers.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('loyalty', [identitySubgraph, ownershipSubgraph, loyaltySubgraph]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const one = async (sql: string, params: unknown[]) => Number((await stack.db.query(sql, params)).rows[0]?.n ?? 0);
const cash = async (userId: string) => one('select cash_cents::bigint as n from ownership.accounts where user_id = $1', [userId]);

/** A registered user (identity), so `me` resolves and tickets may be transferred to them. */
async function member(cents: number): Promise<{ userId: string; token: string }> {
  const res = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
    { input: { email: `fan-${randomUUID()}@example.com`, password: 'a-long-password', displayName: 'Fan', role: 'FAN' } },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  const user = { userId: res.data.register.user.id, token: res.data.register.accessToken };
  if (cents > 0) await fund(stack, user.userId, cents);
  return user;
}

async function myTickets(token: string): Promise<MyTicket[]> {
  const res = await stack.gql<{ me: { tickets: MyTicket[] } }>(MY_TICKETS, {}, { token });
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return res.data.me.tickets;
}

async function buy(token: string, ticketTypeId: string, clientPurchaseId = randomUUID(), quantity = 1) {
  return stack.gql<Bought>(BUY, { ticketTypeId, quantity, clientPurchaseId }, { token });
}

describe('buying tickets: reserve in loyalty, debit in ownership, issue or release', () => {
  it('100 fans racing for 50 tickets: exactly 50 sold, exactly 50 payments debited', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 50, priceCents: 1_000 });
    const type = event.ticketTypes[0]!;
    const racers = await fans(stack, 100, 5_000);
    const results = await Promise.all(racers.map((f) => buy(f.token, type.id)));
    const confirmed = results.filter((r) => r.data?.buyTickets.status === 'CONFIRMED');
    expect(confirmed).toHaveLength(50);
    expect(results.filter((r) => errorCode(r) === 'CONFLICT')).toHaveLength(50);
    expect(await one('select count(*)::int as n from loyalty.tickets where ticket_type_id = $1', [type.id])).toBe(50);
    expect(await one(`select sold as n from loyalty.ticket_types where id = $1`, [type.id])).toBe(50);
    const purchases = (await stack.db.query(`select id from loyalty.purchases where ticket_type_id = $1`, [type.id])).rows.map((r) => r.id as string);
    expect(
      await one(`select count(*)::int as n from ownership.ticket_payments where status = 'SUCCEEDED' and purchase_id = any($1::uuid[])`, [purchases]),
    ).toBe(50);
    expect(await cash(band.userId)).toBe(50_000);
    const balances = (
      await stack.db.query(`select cash_cents::int as n from ownership.accounts where user_id = any($1::uuid[])`, [racers.map((f) => f.userId)])
    ).rows.map((r) => r.n as number);
    expect(balances.filter((b) => b === 4_000)).toHaveLength(50);
    expect(balances.filter((b) => b === 5_000)).toHaveLength(50);
  }, 120_000);

  it('a failed debit releases the reservation; a repeated clientPurchaseId buys once', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 1, priceCents: 2_000 });
    const type = event.ticketTypes[0]!;
    const poor = await fan(stack, 500);
    const refused = await buy(poor.token, type.id);
    expect(errorCode(refused)).toBe('INSUFFICIENT_FUNDS');
    expect(await cash(poor.userId)).toBe(500);
    expect(await one(`select capacity - sold as n from loyalty.ticket_types where id = $1`, [type.id])).toBe(1);

    const rich = await fan(stack, 10_000);
    const clientPurchaseId = randomUUID();
    const attempts = await Promise.all([buy(rich.token, type.id, clientPurchaseId), buy(rich.token, type.id, clientPurchaseId)]);
    const again = await buy(rich.token, type.id, clientPurchaseId);
    const ids = new Set([...attempts, again].map((r) => r.data?.buyTickets.id));
    expect(ids.size).toBe(1);
    expect(again.data!.buyTickets).toMatchObject({ status: 'CONFIRMED', ticketType: { remaining: 0 } });
    expect(again.data!.buyTickets.tickets).toHaveLength(1);
    expect(await cash(rich.userId)).toBe(8_000);
    // Sold out for anyone else.
    expect(errorCode(await buy(rich.token, type.id))).toBe('CONFLICT');
  }, 60_000);

  it('a presale is FORBIDDEN below its tier and open at it; tiers come from events and explain themselves', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100, presale: true, presaleMinTier: 'BRONZE' });
    const type = event.ticketTypes[0]!;
    const listener = await member(1_000);
    expect(errorCode(await buy(listener.token, type.id))).toBe('FORBIDDEN');
    const upcoming = await stack.gql<{ upcomingEvents: { edges: { node: { id: string; ticketTypes: { onSaleForMe: boolean }[] } }[] } }>(
      UPCOMING,
      { first: 100 },
      { token: listener.token },
    );
    expect(upcoming.data!.upcomingEvents.edges.find((e) => e.node.id === event.id)!.node.ticketTypes[0]!.onSaleForMe).toBe(false);

    const songId = randomUUID();
    await publishEvent(stack, SongPublished, {
      songId,
      artistId: band.artistId,
      artistUserId: band.userId,
      title: 'Fan Favourite',
      genre: 'Pop',
      durationSeconds: 180,
      publishedAt: new Date().toISOString(),
    });
    for (let i = 0; i < 10; i++) {
      await publishEvent(stack, ListenCompleted, {
        sessionId: randomUUID(),
        userId: listener.userId,
        songId,
        listenedSeconds: 180,
        completedAt: new Date().toISOString(),
      });
    }
    const tier = await eventually(
      async () =>
        (
          await stack.gql<{ me: { fanTier: { level: string; score: number; nextLevelAt: number | null } } }>(
            FAN_TIER,
            { artistId: band.artistId },
            { token: listener.token },
          )
        ).data?.me.fanTier,
      (t) => t?.level === 'BRONZE',
      15_000,
    );
    expect(tier).toEqual({ level: 'BRONZE', score: 10, nextLevelAt: 100 });
    expect((await buy(listener.token, type.id)).data?.buyTickets.status).toBe('CONFIRMED');
  }, 60_000);
});

describe('QR tickets, check-in, transfers, wristbands', () => {
  it('admits a valid QR once, however many doors scan it at once, and refuses tampered, expired and other-event codes', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100 });
    const other = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100 });
    const holder = await member(1_000);
    await buy(holder.token, event.ticketTypes[0]!.id);
    await buy(holder.token, other.ticketTypes[0]!.id);
    const tickets = await myTickets(holder.token);
    const mine = tickets.find((t) => t.event.id === event.id)!;
    const theirs = tickets.find((t) => t.event.id === other.id)!;
    expect(mine).toMatchObject({ status: 'VALID', wristbandBound: false });
    expect(new Date(mine.qrExpiresAt!).getTime()).toBeGreaterThan(Date.now());

    // The door verifies offline with the public key alone.
    const door = { publicKey: event.doorPublicKey, eventId: event.id };
    expect(verifyTicketQr(mine.qr!, { ...door, nowMs: Date.now() }).ok).toBe(true);
    const tampered = Buffer.from(mine.qr!, 'base64url');
    tampered[20]! ^= 1;
    expect(verifyTicketQr(tampered.toString('base64url'), { ...door, nowMs: Date.now() })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(verifyTicketQr(mine.qr!, { ...door, nowMs: Date.now() + (QR_WINDOW_SECONDS + 10) * 1000 })).toMatchObject({ ok: false, reason: 'EXPIRED' });
    expect(verifyTicketQr(theirs.qr!, { ...door, nowMs: Date.now() })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(verifyTicketQr(theirs.qr!, { publicKey: other.doorPublicKey, eventId: event.id, nowMs: Date.now() })).toMatchObject({
      ok: false,
      reason: 'OTHER_EVENT',
    });

    // Online, the server refuses the same.
    const scan = (qr: string, deviceId = 'door-1') =>
      stack.gql<{ checkIn: { result: string; reason: string | null } }>(CHECK_IN, { eventId: event.id, qr, deviceId }, { token: band.token });
    expect((await scan(tampered.toString('base64url'))).data!.checkIn).toMatchObject({ result: 'REJECTED', reason: 'BAD_SIGNATURE' });
    expect((await scan(theirs.qr!)).data!.checkIn).toMatchObject({ result: 'REJECTED' });
    expect(errorCode(await stack.gql(CHECK_IN, { eventId: event.id, qr: mine.qr, deviceId: 'door-x' }, { token: holder.token }))).toBe('FORBIDDEN');

    const scans = await Promise.all(Array.from({ length: 12 }, (_, i) => scan(mine.qr!, `door-${i % 3}`)));
    const results = scans.map((s) => s.data!.checkIn.result);
    expect(results.filter((r) => r === 'ADMITTED')).toHaveLength(1);
    expect(results.filter((r) => r === 'ALREADY_ADMITTED')).toHaveLength(11);

    // A staff token works for its own event only.
    const staff = await stack.gql<{ issueStaffToken: { token: string } }>(STAFF_TOKEN, { eventId: other.id, label: 'Gate B' }, { token: band.token });
    const staffToken = staff.data!.issueStaffToken.token;
    expect(errorCode(await stack.gql(CHECK_IN, { eventId: event.id, qr: mine.qr, deviceId: 'gate-b', staffToken }))).toBe('FORBIDDEN');
    expect(
      (await stack.gql<{ checkIn: { result: string } }>(CHECK_IN, { eventId: other.id, qr: theirs.qr, deviceId: 'gate-b', staffToken })).data!.checkIn.result,
    ).toBe('ADMITTED');
  }, 60_000);

  it("refuses a transferred ticket's old QR; the new holder's works", async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100 });
    const giver = await member(1_000);
    const receiver = await member(0);
    await buy(giver.token, event.ticketTypes[0]!.id);
    const [old] = await myTickets(giver.token);
    const moved = await stack.gql(TRANSFER, { ticketId: old!.id, toUserId: receiver.userId }, { token: giver.token });
    expect(moved.errors).toBeUndefined();
    expect(await myTickets(giver.token)).toEqual([]);
    const [received] = await myTickets(receiver.token);
    expect(received!.id).toBe(old!.id);
    expect(received!.qr).not.toBe(old!.qr);
    const scan = (qr: string) =>
      stack.gql<{ checkIn: { result: string; reason: string | null } }>(CHECK_IN, { eventId: event.id, qr, deviceId: 'door-1' }, { token: band.token });
    expect((await scan(old!.qr!)).data!.checkIn).toMatchObject({ result: 'REJECTED', reason: 'TRANSFERRED' });
    expect((await scan(received!.qr!)).data!.checkIn.result).toBe('ADMITTED');
    expect(errorCode(await stack.gql(TRANSFER, { ticketId: old!.id, toUserId: giver.userId }, { token: receiver.token }))).toBe('CONFLICT');
  }, 60_000);

  it('two doors that admitted one ticket offline: after sync one ADMITTED, one CONFLICT the artist sees', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100 });
    const holder = await member(1_000);
    await buy(holder.token, event.ticketTypes[0]!.id);
    const [ticket] = await myTickets(holder.token);
    const first = new Date(Date.now() - 2_000).toISOString();
    const second = new Date(Date.now() - 1_000).toISOString();
    const sync = (deviceId: string, admittedAt: string) =>
      stack.gql<{ syncOfflineCheckIns: { result: string }[] }>(
        SYNC,
        { eventId: event.id, deviceId, checkIns: [{ qr: ticket!.qr, admittedAt }] },
        { token: band.token },
      );
    // The later admission syncs first; the earlier one then wins.
    expect((await sync('door-b', second)).data!.syncOfflineCheckIns[0]!.result).toBe('ADMITTED');
    expect((await sync('door-a', first)).data!.syncOfflineCheckIns[0]!.result).toBe('ADMITTED');
    expect((await sync('door-a', first)).data!.syncOfflineCheckIns[0]!.result).toBe('ADMITTED');
    const seen = await stack.gql<{
      event: { admittedCount: number; checkInConflicts: { ticket: { id: string }; deviceId: string; winningDeviceId: string }[] };
    }>(CONFLICTS, { id: event.id }, { token: band.token });
    expect(seen.data!.event.admittedCount).toBe(1);
    expect(seen.data!.event.checkInConflicts).toEqual([expect.objectContaining({ ticket: { id: ticket!.id }, deviceId: 'door-b', winningDeviceId: 'door-a' })]);
    const statuses = (await stack.db.query(`select device_id, status from loyalty.admissions where ticket_id = $1 order by device_id`, [ticket!.id])).rows;
    expect(statuses).toEqual([
      { device_id: 'door-a', status: 'ADMITTED' },
      { device_id: 'door-b', status: 'CONFLICT' },
    ]);
    expect(errorCode(await stack.gql(CONFLICTS, { id: event.id }, { token: holder.token }))).toBe('FORBIDDEN');
  }, 60_000);

  it('binds a wristband UID to one admitted ticket per event; a lost band is revoked and another bound', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 10, priceCents: 100 });
    const a = await member(1_000);
    const b = await member(1_000);
    await buy(a.token, event.ticketTypes[0]!.id);
    await buy(b.token, event.ticketTypes[0]!.id);
    const [ta] = await myTickets(a.token);
    const [tb] = await myTickets(b.token);
    const uid = '04:A2:B3:C4:D5:E6:F7';
    expect(errorCode(await stack.gql(BIND, { ticketId: ta!.id, uid }, { token: band.token }))).toBe('CONFLICT');
    for (const t of [ta!, tb!]) await stack.gql(CHECK_IN, { eventId: event.id, qr: t.qr, deviceId: 'door-1' }, { token: band.token });
    expect(
      (await stack.gql<{ bindWristband: { wristbandBound: boolean } }>(BIND, { ticketId: ta!.id, uid }, { token: band.token })).data!.bindWristband
        .wristbandBound,
    ).toBe(true);
    expect(errorCode(await stack.gql(BIND, { ticketId: tb!.id, uid: '04a2b3c4d5e6f7' }, { token: band.token }))).toBe('CONFLICT');
    expect((await stack.gql<{ wristbandScan: unknown }>(SCAN, { eventId: event.id, uid }, { token: band.token })).data!.wristbandScan).toEqual({
      result: 'VALID',
      ticket: { id: ta!.id },
    });
    expect((await stack.gql<{ revokeWristband: boolean }>(REVOKE, { eventId: event.id, uid }, { token: band.token })).data!.revokeWristband).toBe(true);
    expect((await stack.gql<{ wristbandScan: { result: string } }>(SCAN, { eventId: event.id, uid }, { token: band.token })).data!.wristbandScan.result).toBe(
      'REVOKED',
    );
    expect((await stack.gql(BIND, { ticketId: tb!.id, uid }, { token: band.token })).errors).toBeUndefined();
    expect((await myTickets(b.token))[0]!.wristbandBound).toBe(true);
    expect((await myTickets(a.token))[0]!.wristbandBound).toBe(false);
  }, 60_000);
});

describe('entity references', () => {
  const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Event { id title } ... on TicketType { id name } ... on Ticket { id status } } }`;

  it('Event, TicketType and Ticket resolve by id through referenceById: a ticket for its holder only, a malformed or unknown id as null', async () => {
    const band = await artist(stack);
    const event = await eventOnSale(stack, band.token, { capacity: 5, priceCents: 100 });
    const holder = await member(1_000);
    await buy(holder.token, event.ticketTypes[0]!.id);
    const [ticket] = await myTickets(holder.token);
    const representations = [
      { __typename: 'Event', id: event.id },
      { __typename: 'TicketType', id: event.ticketTypes[0]!.id },
      { __typename: 'Ticket', id: ticket!.id },
      { __typename: 'Event', id: "1' or '1'='1" },
      { __typename: 'TicketType', id: 42 },
      { __typename: 'Ticket', id: randomUUID() },
    ];
    const entities = async (token: string) => {
      const res = await stack.subgraph('loyalty')<{ _entities: unknown[] }>(ENTITIES, { r: representations }, { token });
      expect(res.errors).toBeUndefined();
      return res.data!._entities;
    };
    const known = [
      { id: event.id, title: event.title },
      { id: event.ticketTypes[0]!.id, name: event.ticketTypes[0]!.name },
    ];
    expect(await entities(holder.token)).toEqual([...known, { id: ticket!.id, status: 'VALID' }, null, null, null]);
    // Another user reaches the same Ticket by reference and gets nothing.
    expect(await entities((await member(0)).token)).toEqual([...known, null, null, null, null]);
  });
});
