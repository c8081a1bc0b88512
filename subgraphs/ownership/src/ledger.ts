import { randomUUID } from 'node:crypto';
import type { Tx } from '@vibestream/platform';
import { balancedPostings, userBalanceOf, type LedgerAccount } from './domain/accounts.ts';
import * as store from './store.ts';

export { cashOf, reservedOf, type LedgerAccount } from './domain/accounts.ts';
export { ensureAccount } from './store.ts';

/**
 * Records one balanced journal transaction and applies it to the trading accounts. The
 * accounts' check constraints refuse any posting that would make a balance negative.
 */
export async function post(tx: Tx, kind: string, postings: [LedgerAccount, number][]): Promise<void> {
  const lines = balancedPostings(kind, postings);
  if (lines.length === 0) return;
  await store.insertJournal(tx, randomUUID(), kind, lines);
  for (const [account, amount] of lines) {
    const user = userBalanceOf(account);
    if (!user) continue;
    // Money never moves into or out of an account that does not exist.
    if (!(await store.addToBalance(tx, user.userId, user.balance, amount))) throw new Error(`no trading account for ${user.userId} (${kind})`);
  }
}
