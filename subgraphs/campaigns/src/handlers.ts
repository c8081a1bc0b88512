import { on, type EventHandler } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { ListenCompleted } from '@vibestream/contracts/rewards';

/** campaigns' projections of other contexts' events, each in the transaction that marks it handled. */
export const campaignsHandlers: EventHandler[] = [
  // A campaign's artist is its song's artist; its title goes into token metadata.
  on(
    SongPublished,
    async (em, song) => {
      await em.execute(
        'insert into songs (song_id, artist_user_id, title) values (?, ?, ?) on conflict (song_id) do update set title = excluded.title, artist_user_id = excluded.artist_user_id',
        [song.songId, song.artistUserId, song.title],
      );
    },
    { key: (song) => song.songId },
  ),
  // Kept only for songs that have a campaign; whether a listen counts (after joining, within the
  // window) is decided when counting, so a listen that arrives before its join commits is not lost.
  on(ListenCompleted, async (em, listen) => {
    await em.execute(
      `insert into listens (session_id, user_id, song_id, completed_at)
       select ?, ?, ?, ? where exists (select 1 from campaigns where song_id = ?)
       on conflict (session_id) do nothing`,
      [listen.sessionId, listen.userId, listen.songId, listen.completedAt, listen.songId],
    );
  }),
];
