import type { EventHandler, Persistence } from '@vibestream/platform';
import { SongPublished } from '@vibestream/contracts/catalog';
import { TicketReserved } from '@vibestream/contracts/loyalty';
import { TicketPaymentFailed, TicketPaymentSucceeded } from '@vibestream/contracts/ownership';
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
    // loyalty's ticket purchase saga: debits the buyer's cash once per purchaseId (the buyer's
    // account row locked, so concurrent debits never overdraw it) and credits the event's artist,
    // or refuses with nothing debited; either way answers with the outcome in this transaction.
    db.on(TicketReserved, async (tx, reserved) => {
      const { purchaseId, userId, artistUserId, amountCents } = reserved;
      const cash = await store.lockCash(tx, userId);
      const reason = cash === undefined ? 'NO_ACCOUNT' : BigInt(cash) < BigInt(amountCents) ? 'INSUFFICIENT_FUNDS' : null;
      // The purchase's row: a second delivery (under another event id) finds it and does nothing.
      if (!(await store.recordTicketPayment(tx, { purchaseId, userId, artistUserId, amountCents, status: reason ? 'FAILED' : 'SUCCEEDED', reason }))) return;
      if (reason) {
        tx.outbox.record(TicketPaymentFailed, { purchaseId, userId, reason });
        return;
      }
      await ensureAccount(tx, artistUserId);
      await post(tx, 'ticket_purchase', [
        [cashOf(userId), -amountCents],
        [cashOf(artistUserId), amountCents],
      ]);
      tx.outbox.record(TicketPaymentSucceeded, { purchaseId, userId, amountCents });
    }),
  ];
}
