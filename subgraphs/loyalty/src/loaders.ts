import DataLoader from 'dataloader';
import { isUuid, type Session } from '@vibestream/platform';
import type { LoyaltyService } from './service.ts';
import * as store from './store.ts';
import type { EventRow, TicketRow, TicketTypeRow } from './store.ts';
import type { FanTier } from './domain/tiers.ts';

/** Distinct valid ids, lower-cased as PostgreSQL prints them (others match nothing). */
const uuids = (ids: readonly string[]) => [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];

function byId<T extends { id: string }>(load: (ids: string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(async (ids) => {
    const valid = uuids(ids);
    const found = new Map((valid.length ? await load(valid) : []).map((r) => [r.id, r]));
    return ids.map((id) => found.get(id.toLowerCase()) ?? null);
  });
}

function grouped<T>(load: (ids: string[]) => Promise<T[]>, keyOf: (row: T) => string) {
  return new DataLoader<string, T[]>(async (ids) => {
    const valid = uuids(ids);
    const groups = new Map<string, T[]>();
    for (const r of valid.length ? await load(valid) : []) {
      const list = groups.get(keyOf(r)) ?? [];
      list.push(r);
      groups.set(keyOf(r), list);
    }
    return ids.map((id) => groups.get(id.toLowerCase()) ?? []);
  });
}

/** Per-request loaders: a constant number of statements whatever the number of events, types or tickets. */
export function createLoaders(db: Session, service: LoyaltyService) {
  const now = new Date();
  return {
    /** Reads outside any transaction (the few queries that need no batching). */
    db,
    event: byId<EventRow>((ids) => store.eventsByIds(db, ids)),
    ticketType: byId<TicketTypeRow>((ids) => store.ticketTypesByIds(db, ids)),
    ticket: byId<TicketRow>((ids) => store.ticketsByIds(db, ids)),
    ticketTypesOfEvent: grouped<TicketTypeRow>(
      (ids) => store.ticketTypesByEvents(db, ids),
      (r) => r.event_id,
    ),
    ticketsOfPurchase: grouped<TicketRow>(
      (ids) => store.ticketsByPurchases(db, ids),
      (r) => r.purchase_id,
    ),
    /** Keyed `first|holderId`. */
    ticketsOfHolder: new DataLoader<string, TicketRow[]>(async (keys) => {
      const first = Math.max(...keys.map((k) => Number(k.split('|')[0])));
      const holders = uuids(keys.map((k) => k.split('|')[1]!));
      const found = holders.length ? await store.ticketsByHolders(db, holders, first) : [];
      return keys.map((k) => found.filter((t) => t.holder_id === k.split('|')[1]!.toLowerCase()).slice(0, Number(k.split('|')[0])));
    }),
    /** Keyed `first|artistId`. */
    eventsOfArtist: new DataLoader<string, EventRow[]>(async (keys) => {
      const first = Math.max(...keys.map((k) => Number(k.split('|')[0])));
      const artists = uuids(keys.map((k) => k.split('|')[1]!));
      const found = artists.length ? await store.eventsByArtists(db, artists, now, first) : [];
      return keys.map((k) => found.filter((e) => e.artist_id === k.split('|')[1]!.toLowerCase()).slice(0, Number(k.split('|')[0])));
    }),
    wristbandBound: new DataLoader<string, boolean>(async (ids) => {
      const valid = uuids(ids);
      const bound = valid.length ? await store.boundTickets(db, valid) : new Set<string>();
      return ids.map((id) => bound.has(id));
    }),
    privateKey: new DataLoader<string, string | null>(async (ids) => {
      const valid = uuids(ids);
      const found = valid.length ? await store.privateKeysOf(db, valid) : new Map<string, string>();
      return ids.map((id) => found.get(id) ?? null);
    }),
    /** Keyed `userId|artistId`. */
    fanTier: new DataLoader<string, FanTier & { shares: number }>((keys) =>
      Promise.all(
        keys.map((k) => {
          const [userId, artistId] = k.split('|') as [string, string];
          return service.fanTier(userId, artistId);
        }),
      ),
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
