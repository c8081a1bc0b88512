import type { EventHandler, Persistence } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { PoolFunded } from './events.ts';
import * as store from './store.ts';

/** rewards' projections of other contexts' events, each in the transaction that marks it handled. */
export function rewardsHandlers(db: Persistence, defaults: { rewardPerListen: string; epochBudget: string }): EventHandler[] {
  return [
    db.on(SongPublished, (tx, song) => store.upsertSong(tx, song), { key: (song) => song.songId }),
    db.on(PoolFunded, async (tx, funding) => {
      await store.ensurePool(tx, funding.epoch, { rewardPerListen: defaults.rewardPerListen, budget: defaults.epochBudget });
      await store.fundPool(tx, funding.epoch, funding.amount);
    }),
  ];
}
