import type { Persistence } from '@vibestream/platform';
import type { PayoutRecord, PayoutStore } from './payout/erc20-payer.ts';
import * as store from './store.ts';

/** Payout state kept on the claim row itself: the claim id is the payout's idempotency key. */
export function claimPayoutStore(db: Persistence): PayoutStore {
  return {
    async get(claimId) {
      const row = await store.payoutOf(db.reader(), claimId);
      if (!row) return null;
      const status: PayoutRecord['status'] = row.status === 'PAID' ? 'PAID' : row.status === 'FAILED' ? 'FAILED' : row.raw_tx ? 'SENT' : 'PENDING';
      return { claimId: row.id, recipient: row.recipient, amount: BigInt(row.amount), rawTx: row.raw_tx, txHash: row.tx_hash, nonce: row.nonce, status };
    },
    async saveSigned(claimId, signed) {
      if (!(await db.useCase((tx) => store.savePayoutSigned(tx, claimId, signed)))) throw new Error(`claim ${claimId} already has a signed payout`);
    },
    async markPaid(claimId, txHash) {
      await db.useCase((tx) => store.markClaimPaid(tx, claimId, txHash));
    },
    async markFailed(claimId, reason) {
      await db.useCase((tx) => store.markClaimFailed(tx, claimId, reason.slice(0, 500)));
    },
  };
}
