import type { EventHandler, Persistence } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { cashOf, ensureAccount, post } from './ledger.ts';
import * as store from './store.ts';

/** ownership's projections of other contexts' events, each in the transaction that marks it handled. */
export function ownershipHandlers(db: Persistence): EventHandler[] {
  return [
    db.on(
      SongPublished,
      async (tx, song) => {
        await store.upsertSong(tx, song);
        await ensureAccount(tx, song.artistUserId);
      },
      { key: (song) => song.songId },
    ),
    // A deposit credits once per depositId, whatever event id carries it and however often.
    db.on(DepositSucceeded, async (tx, deposit) => {
      if (!(await store.recordDeposit(tx, deposit))) return;
      await ensureAccount(tx, deposit.userId);
      await post(tx, 'deposit', [
        ['external:deposits', -deposit.amountCents],
        [cashOf(deposit.userId), deposit.amountCents],
      ]);
    }),
  ];
}
