import DataLoader from 'dataloader';
import type { EntityManager } from '@vibestream/platform';
import type { TradePoint } from './domain/market.ts';
import type { OfferingRow, OrderRow } from './service.ts';

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

export interface MarketStats {
  lastTradePriceCents: number | null;
  volume24h: number;
  high24hCents: number | null;
  low24hCents: number | null;
}

/** Per-request loaders: market data for any number of songs costs a constant number of statements. */
export function createLoaders(em: EntityManager) {
  /** At most one row per key, by one column of one of our tables, in one statement. */
  const rowBy = <Row>(table: string, column: keyof Row & string) =>
    new DataLoader<string, Row | null>(async (keys) => {
      const rows = (await em.execute(`select * from ${table} where ${column} in (${placeholders(keys.length)})`, [...keys])) as Row[];
      return keys.map((key) => rows.find((r) => r[column] === key) ?? null);
    });
  return {
    marketStats: new DataLoader<string, MarketStats>(async (songIds) => {
      const rows = (await em.execute(
        `select s.song_id,
           (select price_cents from trades t where t.song_id = s.song_id order by seq desc limit 1) as last,
           coalesce(sum(t.quantity), 0)::int as volume, max(t.price_cents) as high, min(t.price_cents) as low
         from (select unnest(array[${placeholders(songIds.length)}]::uuid[]) as song_id) s
         left join trades t on t.song_id = s.song_id and t.executed_at > now() - interval '24 hours'
         group by s.song_id`,
        [...songIds],
      )) as { song_id: string; last: number | null; volume: number; high: number | null; low: number | null }[];
      return songIds.map((id) => {
        const r = rows.find((row) => row.song_id === id);
        return { lastTradePriceCents: r?.last ?? null, volume24h: r?.volume ?? 0, high24hCents: r?.high ?? null, low24hCents: r?.low ?? null };
      });
    }),
    /** By parsed id (resolvers parse ids before they load them). */
    offering: rowBy<OfferingRow>('offerings', 'id'),
    /** By parsed id; whose order it is, the resolver checks. */
    order: rowBy<OrderRow>('orders', 'id'),
    offeringBySong: rowBy<OfferingRow>('offerings', 'song_id'),
    /** Trades in a window plus the last trade before it, for TWAP: two statements per distinct window. */
    twapInputs: new DataLoader<{ songId: string; minutes: number }, { before: TradePoint | null; inWindow: TradePoint[] }, string>(
      async (keys) => {
        type Row = { song_id: string; price_cents: number; quantity: number; executed_at: Date };
        const point = (r: Row): TradePoint => ({ priceCents: r.price_cents, quantity: r.quantity, executedAt: new Date(r.executed_at) });
        const results = new Map<string, { before: TradePoint | null; inWindow: TradePoint[] }>();
        for (const minutes of new Set(keys.map((k) => k.minutes))) {
          const songIds = [...new Set(keys.filter((k) => k.minutes === minutes).map((k) => k.songId))];
          const inWindow = (await em.execute(
            `select song_id, price_cents, quantity, executed_at from trades
             where song_id in (${placeholders(songIds.length)}) and executed_at > now() - make_interval(mins => ?) order by executed_at, seq`,
            [...songIds, minutes],
          )) as Row[];
          const before = (await em.execute(
            `select distinct on (song_id) song_id, price_cents, quantity, executed_at from trades
             where song_id in (${placeholders(songIds.length)}) and executed_at <= now() - make_interval(mins => ?)
             order by song_id, executed_at desc, seq desc`,
            [...songIds, minutes],
          )) as Row[];
          for (const songId of songIds) {
            const prior = before.find((r) => r.song_id === songId);
            results.set(`${songId}|${minutes}`, { before: prior ? point(prior) : null, inWindow: inWindow.filter((r) => r.song_id === songId).map(point) });
          }
        }
        return keys.map((k) => results.get(`${k.songId}|${k.minutes}`)!);
      },
      { cacheKeyFn: (k) => `${k.songId}|${k.minutes}` },
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
