import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@vibestream/platform';

export type LedgerAccount = `user:${string}:cash` | `user:${string}:reserved` | 'fees' | 'external:deposits' | 'external:revenue';

export const cashOf = (userId: string): LedgerAccount => `user:${userId}:cash`;
export const reservedOf = (userId: string): LedgerAccount => `user:${userId}:reserved`;

/**
 * Records one balanced journal transaction and applies it to the trading accounts. The
 * accounts' check constraints refuse any posting that would make a balance negative.
 */
export async function post(tx: EntityManager, kind: string, postings: [LedgerAccount, number][]): Promise<void> {
  const lines = postings.filter(([, amount]) => amount !== 0);
  if (lines.length === 0) return;
  const sum = lines.reduce((total, [, amount]) => total + amount, 0);
  if (sum !== 0) throw new Error(`unbalanced journal transaction (${kind}): ${sum}`);
  const txnId = randomUUID();
  await tx.execute(
    `insert into journal (txn_id, account, amount_cents, kind) values ${lines.map(() => '(?, ?, ?, ?)').join(', ')}`,
    lines.flatMap(([account, amount]) => [txnId, account, amount, kind]),
  );
  for (const [account, amount] of lines) {
    const match = /^user:([0-9a-f-]{36}):(cash|reserved)$/.exec(account);
    if (!match) continue;
    const column = match[2] === 'cash' ? 'cash_cents' : 'reserved_cents';
    const rows = (await tx.execute(`update accounts set ${column} = ${column} + ? where user_id = ? returning user_id`, [amount, match[1]])) as unknown[];
    // Money never moves into or out of an account that does not exist.
    if (rows.length !== 1) throw new Error(`no trading account for ${match[1]} (${kind})`);
  }
}

export async function ensureAccount(tx: EntityManager, userId: string): Promise<void> {
  await tx.execute('insert into accounts (user_id) values (?) on conflict do nothing', [userId]);
}
