import type { EventHandler, Persistence } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import * as store from './store.ts';

/**
 * discovery's projections, each in the transaction that marks the event handled, each bounded: a
 * listen touches its listener's row, the song's counters and at most PAIRING_WINDOW pairs (never a rebuild).
 */
export function discoveryHandlers(db: Persistence): EventHandler[] {
  return [
    db.on(SongPublished, (tx, song) => store.upsertSong(tx, song)),
    db.on(ListenCompleted, async (tx, listen) => {
      const first = await store.recordCompletion(tx, listen.userId, listen.songId, listen.completedAt);
      if (first) await store.addListenerAndPairs(tx, listen.userId, listen.songId);
    }),
  ];
}
