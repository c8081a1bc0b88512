import type { EventHandler, Persistence, Tx } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { CampaignParticipantJoined } from '@vibestream/contracts/campaigns';
import { PlaylistSongAdded } from '@vibestream/contracts/catalog';
import { OfferingSharesBought } from '@vibestream/contracts/ownership';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import * as store from './store.ts';

/**
 * A user's interaction with a song, of any kind: on the user's first with the song, one more distinct
 * user of it and of its pairs, and the songs whose neighbour rows change are marked (one path for all kinds).
 */
async function interacted(tx: Tx, userId: string, songId: string, at: string): Promise<void> {
  if (await store.recordInteraction(tx, userId, songId, at)) await store.addListenerAndPairs(tx, userId, songId);
}

/**
 * discovery's projections, each in the transaction that marks the event handled, each bounded: an
 * interaction touches its user's row, the song's counters and at most PAIRING_WINDOW pairs (never a rebuild).
 * Signals: completed listens (also the caller's history and trending), playlist adds, share purchases and
 * campaign joins (only who interacted with which songs).
 */
export function discoveryHandlers(db: Persistence): EventHandler[] {
  return [
    db.on(SongPublished, (tx, song) => store.upsertSong(tx, song)),
    db.on(ListenCompleted, async (tx, listen) => {
      await store.recordCompletion(tx, listen.userId, listen.songId, listen.completedAt);
      await interacted(tx, listen.userId, listen.songId, listen.completedAt);
    }),
    db.on(PlaylistSongAdded, (tx, added) => interacted(tx, added.userId, added.songId, added.addedAt)),
    db.on(OfferingSharesBought, (tx, bought, envelope) => interacted(tx, bought.userId, bought.songId, envelope.occurredAt)),
    db.on(CampaignParticipantJoined, (tx, joined) => interacted(tx, joined.userId, joined.songId, joined.joinedAt)),
  ];
}
