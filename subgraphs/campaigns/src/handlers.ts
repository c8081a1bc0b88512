import type { EventHandler, Persistence } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import * as store from './store.ts';

/** campaigns' projections of other contexts' events, each in the transaction that marks it handled. */
export function campaignsHandlers(db: Persistence): EventHandler[] {
  const on = db.on.bind(db);
  return [
    // A campaign's artist is its song's artist; its title goes into token metadata.
    on(SongPublished, (tx, song) => store.upsertSong(tx, song), { key: (song) => song.songId }),
    // Kept only for songs that have a campaign; whether a listen counts (after joining, within the
    // window) is decided when counting, so a listen that arrives before its join commits is not lost.
    on(ListenCompleted, (tx, listen) => store.insertListen(tx, listen)),
  ];
}
