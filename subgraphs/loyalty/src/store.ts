import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';
import { fanTierLevels } from './domain/tiers.ts';

/**
 * loyalty's SQL, all of it: each function one statement with bound parameters, each row parsed.
 * Reads take any Session; writes take the Tx of a use case or an event handler.
 */

const time = z.union([z.string(), z.date()]).transform((v) => new Date(v));
const list = (values: readonly string[]) => sql.join(values);
const tier = z.enum(fanTierLevels);

export const EventRow = z.object({
  id: z.string(),
  artist_id: z.string(),
  artist_user_id: z.string(),
  title: z.string(),
  venue: z.string(),
  starts_at: time,
  door_public_key: z.string(),
});
export type EventRow = z.output<typeof EventRow>;

export const TicketTypeRow = z.object({
  id: z.string(),
  event_id: z.string(),
  position: z.number(),
  name: z.string(),
  price_cents: z.number(),
  capacity: z.number(),
  sold: z.number(),
  sale_starts_at: time,
  presale_starts_at: time.nullable(),
  presale_min_tier: tier.nullable(),
  presale_for_shareholders: z.boolean(),
});
export type TicketTypeRow = z.output<typeof TicketTypeRow>;

export const PurchaseRow = z.object({
  id: z.string(),
  user_id: z.string(),
  client_purchase_id: z.string(),
  ticket_type_id: z.string(),
  quantity: z.number(),
  amount_cents: z.union([z.string(), z.number()]).transform(Number),
  status: z.enum(['PENDING', 'CONFIRMED', 'FAILED']),
  failure_reason: z.string().nullable(),
});
export type PurchaseRow = z.output<typeof PurchaseRow>;

export const TicketRow = z.object({
  id: z.string(),
  purchase_id: z.string(),
  ticket_type_id: z.string(),
  event_id: z.string(),
  holder_id: z.string(),
  generation: z.number(),
  admitted_at: time.nullable(),
  admitted_device: z.string().nullable(),
});
export type TicketRow = z.output<typeof TicketRow>;

const AdmissionRow = z.object({ id: z.string(), device_id: z.string(), admitted_at: time, status: z.enum(['ADMITTED', 'CONFLICT']) });
export type AdmissionRow = z.output<typeof AdmissionRow>;

// ---- Projections ----

export async function insertUser(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`insert into users (user_id) values (${userId}) on conflict do nothing`);
}

export async function userExists(db: Session, userId: string): Promise<true | undefined> {
  return (await row(db, z.object({ user_id: z.string() }), sql`select user_id from users where user_id = ${userId}`)) ? true : undefined;
}

export async function upsertArtist(tx: Tx, a: { artistId: string; userId: string; name: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into artists (artist_id, user_id, name) values (${a.artistId}, ${a.userId}, ${a.name})
        on conflict (artist_id) do update set user_id = excluded.user_id, name = excluded.name`,
  );
}

export async function artistsOfUser(db: Session, userId: string): Promise<{ artist_id: string }[]> {
  return rows(db, z.object({ artist_id: z.string() }), sql`select artist_id from artists where user_id = ${userId} order by artist_id`);
}

export async function upsertSong(tx: Tx, s: { songId: string; artistId: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into songs (song_id, artist_id) values (${s.songId}, ${s.artistId}) on conflict (song_id) do update set artist_id = excluded.artist_id`,
  );
}

/** Adds to a fan's signals for one song. */
export async function addSignals(tx: Tx, userId: string, songId: string, d: { listens?: number; shares?: number; campaignNfts?: number }): Promise<void> {
  const listens = d.listens ?? 0;
  const shares = d.shares ?? 0;
  const nfts = d.campaignNfts ?? 0;
  await exec(
    tx,
    sql`insert into fan_song_signals (user_id, song_id, listens, shares, campaign_nfts) values (${userId}, ${songId}, ${listens}, ${shares}, ${nfts})
        on conflict (user_id, song_id) do update set listens = fan_song_signals.listens + ${listens},
          shares = fan_song_signals.shares + ${shares}, campaign_nfts = fan_song_signals.campaign_nfts + ${nfts}`,
  );
}

/** A fan's signals summed over an artist's songs. */
export async function signalsFor(db: Session, userId: string, artistId: string): Promise<{ listens: number; shares: number; campaignNfts: number }> {
  const found = await row(
    db,
    z.object({ listens: z.number(), shares: z.number(), campaign_nfts: z.number() }),
    sql`select coalesce(sum(f.listens), 0)::int as listens, coalesce(sum(greatest(f.shares, 0)), 0)::int as shares,
               coalesce(sum(f.campaign_nfts), 0)::int as campaign_nfts
        from fan_song_signals f join songs s on s.song_id = f.song_id
        where f.user_id = ${userId} and s.artist_id = ${artistId}`,
  );
  return { listens: found?.listens ?? 0, shares: found?.shares ?? 0, campaignNfts: found?.campaign_nfts ?? 0 };
}

// ---- Events and ticket types ----

export async function insertEvent(
  tx: Tx,
  e: { id: string; artistId: string; artistUserId: string; title: string; venue: string; startsAt: Date; publicKey: string; privateKey: string },
): Promise<EventRow> {
  const inserted = await row(
    tx,
    EventRow,
    sql`insert into events (id, artist_id, artist_user_id, title, venue, starts_at, door_public_key, door_private_key)
        values (${e.id}, ${e.artistId}, ${e.artistUserId}, ${e.title}, ${e.venue}, ${e.startsAt.toISOString()}, ${e.publicKey}, ${e.privateKey})
        returning id, artist_id, artist_user_id, title, venue, starts_at, door_public_key`,
  );
  return inserted!;
}

export async function insertTicketType(
  tx: Tx,
  t: {
    id: string;
    eventId: string;
    position: number;
    name: string;
    priceCents: number;
    capacity: number;
    saleStartsAt: Date;
    presaleStartsAt: Date | null;
    presaleMinTier: string | null;
    presaleForShareholders: boolean;
  },
): Promise<void> {
  await exec(
    tx,
    sql`insert into ticket_types (id, event_id, position, name, price_cents, capacity, sale_starts_at, presale_starts_at, presale_min_tier, presale_for_shareholders)
        values (${t.id}, ${t.eventId}, ${t.position}, ${t.name}, ${t.priceCents}, ${t.capacity}, ${t.saleStartsAt.toISOString()},
                ${t.presaleStartsAt?.toISOString() ?? null}, ${t.presaleMinTier}, ${t.presaleForShareholders})`,
  );
}

const eventColumns = sql`id, artist_id, artist_user_id, title, venue, starts_at, door_public_key`;

export async function eventsByIds(db: Session, ids: readonly string[]): Promise<EventRow[]> {
  return rows(db, EventRow, sql`select ${eventColumns} from events where id in (${list(ids)})`);
}

export async function eventPrivateKey(db: Session, eventId: string): Promise<string | undefined> {
  return (await row(db, z.object({ door_private_key: z.string() }), sql`select door_private_key from events where id = ${eventId}`))?.door_private_key;
}

export async function privateKeysOf(db: Session, eventIds: readonly string[]): Promise<Map<string, string>> {
  const found = await rows(
    db,
    z.object({ id: z.string(), door_private_key: z.string() }),
    sql`select id, door_private_key from events where id in (${list(eventIds)})`,
  );
  return new Map(found.map((r) => [r.id, r.door_private_key]));
}

/** Events not started at `now`, soonest first, after the keyset cursor (starts_at, id); one more than `limit` to tell a next page. */
export async function upcomingEvents(db: Session, now: Date, cursor: readonly [string, string] | null, limit: number): Promise<EventRow[]> {
  return rows(
    db,
    EventRow,
    sql`select ${eventColumns} from events where starts_at > ${now.toISOString()}
        ${cursor ? sql`and (starts_at, id) > (${cursor[0]}::timestamptz, ${cursor[1]}::uuid)` : sql``}
        order by starts_at, id limit ${limit + 1}`,
  );
}

/** Up to `limit` upcoming events of each artist, soonest first. */
export async function eventsByArtists(db: Session, artistIds: readonly string[], now: Date, limit: number): Promise<EventRow[]> {
  return rows(
    db,
    EventRow,
    sql`select ${eventColumns} from (
          select e.*, row_number() over (partition by e.artist_id order by e.starts_at, e.id) as n
          from events e where e.artist_id in (${list(artistIds)}) and e.starts_at > ${now.toISOString()}
        ) paged where n <= ${limit} order by artist_id, starts_at, id`,
  );
}

export async function ticketTypesByEvents(db: Session, eventIds: readonly string[]): Promise<TicketTypeRow[]> {
  return rows(db, TicketTypeRow, sql`select * from ticket_types where event_id in (${list(eventIds)}) order by event_id, position`);
}

export async function ticketTypesByIds(db: Session, ids: readonly string[]): Promise<TicketTypeRow[]> {
  return rows(db, TicketTypeRow, sql`select * from ticket_types where id in (${list(ids)})`);
}

// ---- Purchases ----

/** The purchase row of a new clientPurchaseId; undefined when the buyer already used it. */
export async function insertPurchase(
  tx: Tx,
  p: { id: string; userId: string; clientPurchaseId: string; ticketTypeId: string; quantity: number; amountCents: number; status: 'PENDING' | 'CONFIRMED' },
): Promise<PurchaseRow | undefined> {
  return row(
    tx,
    PurchaseRow,
    sql`insert into purchases (id, user_id, client_purchase_id, ticket_type_id, quantity, amount_cents, status, settled_at)
        values (${p.id}, ${p.userId}, ${p.clientPurchaseId}, ${p.ticketTypeId}, ${p.quantity}, ${p.amountCents}, ${p.status},
                ${p.status === 'CONFIRMED' ? sql`now()` : sql`null`})
        on conflict on constraint purchases_client_id do nothing returning *`,
  );
}

export async function purchaseByClientId(db: Session, userId: string, clientPurchaseId: string): Promise<PurchaseRow | undefined> {
  return row(db, PurchaseRow, sql`select * from purchases where user_id = ${userId} and client_purchase_id = ${clientPurchaseId}`);
}

export async function purchasesByIds(db: Session, ids: readonly string[]): Promise<PurchaseRow[]> {
  return rows(db, PurchaseRow, sql`select * from purchases where id in (${list(ids)})`);
}

/** Holds `quantity` tickets of the type; false when fewer remain (never oversold: one conditional update). */
export async function reserveCapacity(tx: Tx, ticketTypeId: string, quantity: number): Promise<boolean> {
  return (await exec(tx, sql`update ticket_types set sold = sold + ${quantity} where id = ${ticketTypeId} and sold + ${quantity} <= capacity`)) === 1;
}

export async function releaseCapacity(tx: Tx, ticketTypeId: string, quantity: number): Promise<void> {
  await exec(tx, sql`update ticket_types set sold = sold - ${quantity} where id = ${ticketTypeId}`);
}

/** Settles a PENDING purchase; undefined when it was settled already. */
export async function settlePurchase(tx: Tx, id: string, status: 'CONFIRMED' | 'FAILED', reason: string | null): Promise<PurchaseRow | undefined> {
  return row(
    tx,
    PurchaseRow,
    sql`update purchases set status = ${status}, failure_reason = ${reason}, settled_at = now() where id = ${id} and status = 'PENDING' returning *`,
  );
}

// ---- Tickets ----

export async function insertTickets(
  tx: Tx,
  tickets: readonly { id: string; purchaseId: string; ticketTypeId: string; eventId: string; holderId: string }[],
): Promise<void> {
  if (tickets.length === 0) return;
  const values = tickets.map((t) => sql`(${t.id}, ${t.purchaseId}, ${t.ticketTypeId}, ${t.eventId}, ${t.holderId})`);
  await exec(tx, sql`insert into tickets (id, purchase_id, ticket_type_id, event_id, holder_id) values ${sql.join(values)}`);
}

export async function eventOfTicketType(tx: Tx, ticketTypeId: string): Promise<string | undefined> {
  return (await row(tx, z.object({ event_id: z.string() }), sql`select event_id from ticket_types where id = ${ticketTypeId}`))?.event_id;
}

const ticketColumns = sql`id, purchase_id, ticket_type_id, event_id, holder_id, generation, admitted_at, admitted_device`;

export async function ticketsByIds(db: Session, ids: readonly string[]): Promise<TicketRow[]> {
  return rows(db, TicketRow, sql`select ${ticketColumns} from tickets where id in (${list(ids)})`);
}

export async function ticketsByPurchases(db: Session, purchaseIds: readonly string[]): Promise<TicketRow[]> {
  return rows(db, TicketRow, sql`select ${ticketColumns} from tickets where purchase_id in (${list(purchaseIds)}) order by seq`);
}

/** Up to `limit` tickets of each holder, soonest event first. */
export async function ticketsByHolders(db: Session, holderIds: readonly string[], limit: number): Promise<TicketRow[]> {
  return rows(
    db,
    TicketRow,
    sql`select ${ticketColumns} from (
          select t.*, row_number() over (partition by t.holder_id order by e.starts_at, t.seq) as n
          from tickets t join events e on e.id = t.event_id where t.holder_id in (${list(holderIds)})
        ) paged where n <= ${limit} order by holder_id, n`,
  );
}

export async function lockTicket(tx: Tx, id: string): Promise<TicketRow | undefined> {
  return row(tx, TicketRow, sql`select ${ticketColumns} from tickets where id = ${id} for update`);
}

/** Moves a not-yet-admitted ticket to another holder under a new generation; undefined when it was admitted or is not `from`'s. */
export async function transferTicket(tx: Tx, id: string, from: string, to: string): Promise<TicketRow | undefined> {
  return row(
    tx,
    TicketRow,
    sql`update tickets set holder_id = ${to}, generation = generation + 1
        where id = ${id} and holder_id = ${from} and admitted_at is null returning ${ticketColumns}`,
  );
}

/**
 * Admits the ticket if no one did and the QR's holder and generation are current, and records the
 * online admission, in one statement (exactly one concurrent caller wins); undefined otherwise.
 */
export async function admitOnline(
  tx: Tx,
  a: { admissionId: string; ticketId: string; eventId: string; holderId: string; generation: number; deviceId: string; at: Date },
): Promise<TicketRow | undefined> {
  return row(
    tx,
    TicketRow,
    sql`with admitted as (
          update tickets set admitted_at = ${a.at.toISOString()}, admitted_device = ${a.deviceId}
          where id = ${a.ticketId} and event_id = ${a.eventId} and holder_id = ${a.holderId} and generation = ${a.generation} and admitted_at is null
          returning ${ticketColumns}
        ), recorded as (
          insert into admissions (id, ticket_id, event_id, device_id, admitted_at, offline, status)
          select ${a.admissionId}, id, event_id, ${a.deviceId}, admitted_at, false, 'ADMITTED' from admitted
          on conflict on constraint admissions_device do nothing
        )
        select * from admitted`,
  );
}

export async function setWinner(tx: Tx, ticketId: string, deviceId: string, at: Date): Promise<void> {
  await exec(tx, sql`update tickets set admitted_at = ${at.toISOString()}, admitted_device = ${deviceId} where id = ${ticketId}`);
}

export async function insertAdmission(
  tx: Tx,
  a: { id: string; ticketId: string; eventId: string; deviceId: string; at: Date; offline: boolean; status: 'ADMITTED' | 'CONFLICT' },
): Promise<void> {
  await exec(
    tx,
    sql`insert into admissions (id, ticket_id, event_id, device_id, admitted_at, offline, status)
        values (${a.id}, ${a.ticketId}, ${a.eventId}, ${a.deviceId}, ${a.at.toISOString()}, ${a.offline}, ${a.status})
        on conflict on constraint admissions_device do nothing`,
  );
}

export async function admissionOf(tx: Tx, ticketId: string, deviceId: string): Promise<AdmissionRow | undefined> {
  return row(tx, AdmissionRow, sql`select id, device_id, admitted_at, status from admissions where ticket_id = ${ticketId} and device_id = ${deviceId}`);
}

/** Demotes the ticket's winning admission to a CONFLICT (before another takes its place). */
export async function demoteWinner(tx: Tx, ticketId: string): Promise<void> {
  await exec(tx, sql`update admissions set status = 'CONFLICT' where ticket_id = ${ticketId} and status = 'ADMITTED'`);
}

const ConflictRow = z.object({
  ticket_id: z.string(),
  device_id: z.string(),
  admitted_at: time,
  winning_device_id: z.string(),
  winning_admitted_at: time,
});
export type ConflictRow = z.output<typeof ConflictRow>;

export async function conflictsOfEvent(db: Session, eventId: string, limit: number): Promise<ConflictRow[]> {
  return rows(
    db,
    ConflictRow,
    sql`select a.ticket_id, a.device_id, a.admitted_at, t.admitted_device as winning_device_id, t.admitted_at as winning_admitted_at
        from admissions a join tickets t on t.id = a.ticket_id
        where a.event_id = ${eventId} and a.status = 'CONFLICT' and t.admitted_at is not null order by a.admitted_at limit ${limit}`,
  );
}

export async function admittedCount(db: Session, eventId: string): Promise<number> {
  return (
    (await row(db, z.object({ n: z.number() }), sql`select count(*)::int as n from tickets where event_id = ${eventId} and admitted_at is not null`))?.n ?? 0
  );
}

// ---- Wristbands ----

/** Binds a band; false when the UID is bound to another ticket of the event, or the ticket has a band. */
export async function bindWristband(tx: Tx, w: { id: string; eventId: string; uid: string; ticketId: string }): Promise<boolean> {
  return (
    (await exec(
      tx,
      sql`insert into wristbands (id, event_id, uid, ticket_id) values (${w.id}, ${w.eventId}, ${w.uid}, ${w.ticketId}) on conflict do nothing`,
    )) === 1
  );
}

export async function revokeWristband(tx: Tx, eventId: string, uid: string): Promise<boolean> {
  return (await exec(tx, sql`update wristbands set revoked_at = now() where event_id = ${eventId} and uid = ${uid} and revoked_at is null`)) > 0;
}

/** The band with this UID at the event: the active one, else the latest revoked one. */
export async function wristbandByUid(db: Session, eventId: string, uid: string): Promise<{ ticket_id: string; revoked: boolean } | undefined> {
  return row(
    db,
    z.object({ ticket_id: z.string(), revoked: z.boolean() }),
    sql`select ticket_id, revoked_at is not null as revoked from wristbands where event_id = ${eventId} and uid = ${uid}
        order by (revoked_at is null) desc, bound_at desc limit 1`,
  );
}

export async function boundTickets(db: Session, ticketIds: readonly string[]): Promise<Set<string>> {
  const found = await rows(
    db,
    z.object({ ticket_id: z.string() }),
    sql`select ticket_id from wristbands where ticket_id in (${list(ticketIds)}) and revoked_at is null`,
  );
  return new Set(found.map((r) => r.ticket_id));
}

// ---- Staff tokens ----

export async function insertStaffToken(tx: Tx, t: { hash: string; eventId: string; label: string }): Promise<void> {
  await exec(tx, sql`insert into staff_tokens (token_hash, event_id, label) values (${t.hash}, ${t.eventId}, ${t.label})`);
}

export async function staffTokenEvent(db: Session, hash: string): Promise<string | undefined> {
  return (await row(db, z.object({ event_id: z.string() }), sql`select event_id from staff_tokens where token_hash = ${hash} and revoked_at is null`))
    ?.event_id;
}
