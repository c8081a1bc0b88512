import { on, type EventHandler } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { PoolFunded } from './events.ts';

/** rewards' projections of other contexts' events, each in the transaction that marks it handled. */
export function rewardsHandlers(defaults: { rewardPerListen: string; epochBudget: string }): EventHandler[] {
  return [
    on(
      SongPublished,
      async (em, song) => {
        await em.execute(
          `insert into songs (song_id, artist_user_id, duration_seconds, published_at) values (?, ?, ?, ?)
           on conflict (song_id) do update set artist_user_id = excluded.artist_user_id, duration_seconds = excluded.duration_seconds`,
          [song.songId, song.artistUserId, song.durationSeconds, song.publishedAt],
        );
      },
      { key: (song) => song.songId },
    ),
    on(PoolFunded, async (em, funding) => {
      await em.execute(
        'insert into pools (epoch, reward_per_listen, total_budget, remaining) values (?, ?, ?, ?) on conflict do nothing',
        [funding.epoch, defaults.rewardPerListen, defaults.epochBudget, defaults.epochBudget],
      );
      await em.execute('update pools set total_budget = total_budget + ?::numeric, remaining = remaining + ?::numeric where epoch = ?', [
        funding.amount,
        funding.amount,
        funding.epoch,
      ]);
    }),
  ];
}
