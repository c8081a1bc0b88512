import { on, type EventHandler } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { cashOf, ensureAccount, post } from './ledger.ts';

/** ownership's projections of other contexts' events, each in the transaction that marks it handled. */
export const ownershipHandlers: EventHandler[] = [
  on(
    SongPublished,
    async (em, song) => {
      await em.execute(
        'insert into songs (song_id, artist_user_id, title) values (?, ?, ?) on conflict (song_id) do update set title = excluded.title',
        [song.songId, song.artistUserId, song.title],
      );
      await ensureAccount(em, song.artistUserId);
    },
    { key: (song) => song.songId },
  ),
  // A deposit credits once per depositId, whatever event id carries it and however often.
  on(DepositSucceeded, async (em, deposit) => {
    const inserted = (await em.execute(
      'insert into deposits (deposit_id, user_id, amount_cents) values (?, ?, ?) on conflict do nothing returning deposit_id',
      [deposit.depositId, deposit.userId, deposit.amountCents],
    )) as unknown[];
    if (inserted.length === 0) return;
    await ensureAccount(em, deposit.userId);
    await post(em, 'deposit', [
      ['external:deposits', -deposit.amountCents],
      [cashOf(deposit.userId), deposit.amountCents],
    ]);
  }),
];
