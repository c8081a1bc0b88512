// Operations and helpers for loyalty's tests through the gateway (and bench/loyalty).
import { randomUUID } from 'node:crypto';
import { mintToken, publishEvent, eventually, type TestStack } from '@vibestream/testkit';
import { ArtistCreated } from '@vibestream/contracts/catalog';
import { DepositSucceeded } from '@vibestream/contracts/payments';

export const CREATE_EVENT = `mutation CreateEvent($input: CreateEventInput!) {
  createEvent(input: $input) { id title doorPublicKey ticketTypes { id name priceCents capacity remaining } }
}`;
export const BUY = `mutation BuyTickets($ticketTypeId: ID!, $quantity: Int!, $clientPurchaseId: String!) {
  buyTickets(ticketTypeId: $ticketTypeId, quantity: $quantity, clientPurchaseId: $clientPurchaseId) { id status ticketType { id remaining } tickets { id } }
}`;
export const MY_TICKETS = `query MyTickets { me { tickets { id status event { id title startsAt } qr qrExpiresAt wristbandBound } } }`;
export const TRANSFER = `mutation TransferTicket($ticketId: ID!, $toUserId: ID!) { transferTicket(ticketId: $ticketId, toUserId: $toUserId) { id status } }`;
export const CHECK_IN = `mutation CheckIn($eventId: ID!, $qr: String!, $deviceId: String!, $staffToken: String) {
  checkIn(eventId: $eventId, qr: $qr, deviceId: $deviceId, staffToken: $staffToken) { result reason ticket { id } }
}`;
export const SYNC = `mutation SyncOfflineCheckIns($eventId: ID!, $deviceId: String!, $checkIns: [OfflineCheckInInput!]!) {
  syncOfflineCheckIns(eventId: $eventId, deviceId: $deviceId, checkIns: $checkIns) { qr result reason }
}`;
export const CONFLICTS = `query($id: ID!) { event(id: $id) { admittedCount checkInConflicts { ticket { id } deviceId admittedAt winningDeviceId winningAdmittedAt } } }`;
export const BIND = `mutation BindWristband($ticketId: ID!, $uid: String!) { bindWristband(ticketId: $ticketId, uid: $uid) { id wristbandBound } }`;
export const REVOKE = `mutation($eventId: ID!, $uid: String!) { revokeWristband(eventId: $eventId, uid: $uid) }`;
export const SCAN = `query WristbandScan($eventId: ID!, $uid: String!) { wristbandScan(eventId: $eventId, uid: $uid) { result ticket { id } } }`;
export const FAN_TIER = `query MyFanTier($artistId: ID!) { me { fanTier(artistId: $artistId) { level score nextLevelAt } } }`;
export const STAFF_TOKEN = `mutation($eventId: ID!, $label: String!) { issueStaffToken(eventId: $eventId, label: $label) { token eventId } }`;
export const UPCOMING = `query UpcomingEvents($first: Int, $after: String) {
  upcomingEvents(first: $first, after: $after) { edges { node { id title venue startsAt ticketTypes { id name priceCents remaining onSaleForMe } } } pageInfo { hasNextPage endCursor } }
}`;

export type Created = {
  createEvent: {
    id: string;
    title: string;
    doorPublicKey: string;
    ticketTypes: { id: string; name: string; priceCents: number; capacity: number; remaining: number }[];
  };
};
export type Bought = { buyTickets: { id: string; status: string; ticketType: { id: string; remaining: number }; tickets: { id: string }[] } };
export type MyTicket = { id: string; status: string; event: { id: string }; qr: string | null; qrExpiresAt: string | null; wristbandBound: boolean };

export const hoursFromNow = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

/** An artist loyalty knows (catalog's event, as catalog publishes it) with a token for their user. */
export async function artist(stack: TestStack): Promise<{ userId: string; artistId: string; token: string }> {
  const userId = randomUUID();
  const artistId = randomUUID();
  await publishEvent(stack, ArtistCreated, { artistId, userId, name: 'The Loyal Band' });
  return { userId, artistId, token: await mintToken(stack.keys, { userId, roles: ['FAN', 'ARTIST'] }) };
}

/** A fan with a token (no identity account: enough for buying) and `cents` of trading cash. */
export async function fan(stack: TestStack, cents: number): Promise<{ userId: string; token: string }> {
  const userId = randomUUID();
  if (cents > 0) await fund(stack, userId, cents);
  return { userId, token: await mintToken(stack.keys, { userId }) };
}

/** Many fans with tokens and `cents` each: the deposits published at once, then waited for together. */
export async function fans(stack: TestStack, count: number, cents: number): Promise<{ userId: string; token: string }[]> {
  const made = await Promise.all(Array.from({ length: count }, async () => ({ userId: randomUUID(), token: '' })));
  for (const f of made) f.token = await mintToken(stack.keys, { userId: f.userId });
  const depositIds = made.map(() => randomUUID());
  for (const [i, f] of made.entries()) {
    await publishEvent(stack, DepositSucceeded, {
      depositId: depositIds[i]!,
      userId: f.userId,
      amountCents: cents,
      method: 'CARD',
      succeededAt: new Date().toISOString(),
    });
  }
  await eventually(
    async () => Number((await stack.db.query('select count(*) as n from ownership.deposits where deposit_id = any($1::text[])', [depositIds])).rows[0].n),
    (n) => n === count,
    30_000,
  );
  return made;
}

/** Credits trading cash as payments' deposit event does, and waits until ownership booked it. */
export async function fund(stack: TestStack, userId: string, cents: number): Promise<void> {
  const depositId = randomUUID();
  await publishEvent(stack, DepositSucceeded, { depositId, userId, amountCents: cents, method: 'CARD', succeededAt: new Date().toISOString() });
  await eventually(
    async () => (await stack.db.query('select 1 from ownership.deposits where deposit_id = $1', [depositId])).rowCount,
    (n) => n === 1,
    15_000,
  );
}

/** An event with one ticket type on sale now. */
export async function eventOnSale(
  stack: TestStack,
  token: string,
  type: { capacity: number; priceCents: number; presaleMinTier?: string; presale?: boolean },
): Promise<Created['createEvent']> {
  const res = await stack.gql<Created>(
    CREATE_EVENT,
    {
      input: {
        title: 'Loyalty Live',
        venue: 'The Hall',
        startsAt: hoursFromNow(48),
        ticketTypes: [
          {
            name: 'General admission',
            priceCents: type.priceCents,
            capacity: type.capacity,
            saleStartsAt: type.presale ? hoursFromNow(24) : hoursFromNow(-1),
            ...(type.presale ? { presaleStartsAt: hoursFromNow(-1), presaleMinTier: type.presaleMinTier ?? null } : {}),
          },
        ],
      },
    },
    { token },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return res.data.createEvent;
}
