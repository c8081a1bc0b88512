import DataLoader from 'dataloader';
import { isUuid, type Session } from '@vibestream/platform';
import type { TradePoint } from './domain/market.ts';
import * as store from './store.ts';
import type { OfferingRow, OrderRow } from './store.ts';

export interface MarketStats {
  lastTradePriceCents: number | null;
  volume24h: number;
  high24hCents: number | null;
  low24hCents: number | null;
}

/** Per-request loaders: market data for any number of songs costs a constant number of statements. */
export function createLoaders(db: Session) {
  /** At most one row per key, in one statement; a key that is not an id is no row. */
  const rowBy = <Row>(load: (keys: string[]) => Promise<Row[]>, keyOf: (row: Row) => string) =>
    new DataLoader<string, Row | null>(async (keys) => {
      const valid = keys.filter(isUuid);
      const rows = valid.length ? await load(valid) : [];
      return keys.map((key) => rows.find((r) => keyOf(r) === key) ?? null);
    });
  return {
    marketStats: new DataLoader<string, MarketStats>(async (songIds) => {
      const rows = await store.marketStats(db, songIds);
      return songIds.map((id) => {
        const r = rows.find((row) => row.song_id === id);
        return { lastTradePriceCents: r?.last ?? null, volume24h: r?.volume ?? 0, high24hCents: r?.high ?? null, low24hCents: r?.low ?? null };
      });
    }),
    /** By parsed id (resolvers parse ids before they load them). */
    offering: rowBy<OfferingRow>(
      (ids) => store.offeringsBy(db, 'id', ids),
      (r) => r.id,
    ),
    /** By parsed id; whose order it is, the resolver checks. */
    order: rowBy<OrderRow>(
      (ids) => store.ordersByIds(db, ids),
      (r) => r.id,
    ),
    offeringBySong: rowBy<OfferingRow>(
      (ids) => store.offeringsBy(db, 'song_id', ids),
      (r) => r.song_id,
    ),
    /** Trades in a window plus the last trade before it, for TWAP: two statements per distinct window. */
    twapInputs: new DataLoader<{ songId: string; minutes: number }, { before: TradePoint | null; inWindow: TradePoint[] }, string>(
      async (keys) => {
        const point = (r: { price_cents: number; quantity: number; executed_at: Date }): TradePoint => ({
          priceCents: r.price_cents,
          quantity: r.quantity,
          executedAt: r.executed_at,
        });
        const results = new Map<string, { before: TradePoint | null; inWindow: TradePoint[] }>();
        for (const minutes of new Set(keys.map((k) => k.minutes))) {
          const songIds = [...new Set(keys.filter((k) => k.minutes === minutes).map((k) => k.songId))];
          const inWindow = await store.tradesInWindow(db, songIds, minutes);
          const before = await store.lastTradesBefore(db, songIds, minutes);
          for (const songId of songIds) {
            const prior = before.find((r) => r.song_id === songId);
            results.set(`${songId}|${minutes}`, { before: prior ? point(prior) : null, inWindow: inWindow.filter((r) => r.song_id === songId).map(point) });
          }
        }
        return keys.map((k) => results.get(`${k.songId}|${k.minutes}`) ?? { before: null, inWindow: [] });
      },
      { cacheKeyFn: (k) => `${k.songId}|${k.minutes}` },
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
