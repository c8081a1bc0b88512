import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@vibestream/platform';
import { balancedPostings, userBalanceOf, type LedgerAccount } from './domain/accounts.ts';

export { cashOf, reservedOf, type LedgerAccount } from './domain/accounts.ts';

/**
 * Records one balanced journal transaction and applies it to the trading accounts. The
 * accounts' check constraints refuse any posting that would make a balance negative.
 */
export async function post(tx: EntityManager, kind: string, postings: [LedgerAccount, number][]): Promise<void> {
  const lines = balancedPostings(kind, postings);
  if (lines.length === 0) return;
  const txnId = randomUUID();
  await tx.execute(
    `insert into journal (txn_id, account, amount_cents, kind) values ${lines.map(() => '(?, ?, ?, ?)').join(', ')}`,
    lines.flatMap(([account, amount]) => [txnId, account, amount, kind]),
  );
  for (const [account, amount] of lines) {
    const user = userBalanceOf(account);
    if (!user) continue;
    const column = user.balance === 'cash' ? 'cash_cents' : 'reserved_cents';
    const rows = (await tx.execute(`update accounts set ${column} = ${column} + ? where user_id = ? returning user_id`, [amount, user.userId])) as unknown[];
    // Money never moves into or out of an account that does not exist.
    if (rows.length !== 1) throw new Error(`no trading account for ${user.userId} (${kind})`);
  }
}

export async function ensureAccount(tx: EntityManager, userId: string): Promise<void> {
  await tx.execute('insert into accounts (user_id) values (?) on conflict do nothing', [userId]);
}
