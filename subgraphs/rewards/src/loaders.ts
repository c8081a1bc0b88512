import DataLoader from 'dataloader';
import { isUuid, type Session } from '@vibestream/platform';
import * as store from './store.ts';
import type { SessionRow } from './store.ts';

/** Per-request loaders: one statement per kind, whatever the number of keys. */
export function createLoaders(db: Session) {
  return {
    session: new DataLoader<string, SessionRow | null>(async (ids) => {
      // A key that is not an id is no session: it never reaches SQL, where it would fail the whole batch.
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await store.sessionsByIds(db, valid) : [];
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    }),
    rewardedListens: new DataLoader<string, number>(async (songIds) => {
      const valid = songIds.filter(isUuid);
      const counts = valid.length ? await store.rewardedListens(db, valid) : new Map<string, number>();
      return songIds.map((id) => counts.get(id) ?? 0);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
