import type { MikroORM } from '@vibestream/platform';
import type { PayoutRecord, PayoutStore } from './payout/erc20-payer.ts';

/** Payout state kept on the claim row itself: the claim id is the payout's idempotency key. */
export function claimPayoutStore(orm: MikroORM): PayoutStore {
  const em = () => orm.em.fork();
  return {
    async get(claimId) {
      const [row] = (await em().execute('select id, recipient, amount::text, raw_tx, tx_hash, nonce, status from claims where id = ?', [claimId])) as {
        id: string;
        recipient: string;
        amount: string;
        raw_tx: string | null;
        tx_hash: string | null;
        nonce: number | null;
        status: string;
      }[];
      if (!row) return null;
      const status: PayoutRecord['status'] =
        row.status === 'PAID' ? 'PAID' : row.status === 'FAILED' ? 'FAILED' : row.raw_tx ? 'SENT' : 'PENDING';
      return { claimId: row.id, recipient: row.recipient, amount: BigInt(row.amount), rawTx: row.raw_tx, txHash: row.tx_hash, nonce: row.nonce, status };
    },
    async saveSigned(claimId, signed) {
      const updated = (await em().execute(
        'update claims set raw_tx = ?, tx_hash = ?, nonce = ? where id = ? and raw_tx is null returning id',
        [signed.rawTx, signed.txHash, signed.nonce, claimId],
      )) as unknown[];
      if (updated.length === 0) throw new Error(`claim ${claimId} already has a signed payout`);
    },
    async markPaid(claimId, txHash) {
      await em().execute(`update claims set status = 'PAID', tx_hash = ?, paid_at = now() where id = ?`, [txHash, claimId]);
    },
    async markFailed(claimId, reason) {
      await em().execute(`update claims set status = 'FAILED', failure = ? where id = ? and status <> 'PAID'`, [reason.slice(0, 500), claimId]);
    },
  };
}
