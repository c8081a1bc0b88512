// The double-entry ledger's account names. A user has two balances: `cash` (available) and
// `reserved` (held by open BUY orders); the other accounts are the platform's.

export type LedgerAccount = `user:${string}:cash` | `user:${string}:reserved` | 'fees' | 'external:deposits' | 'external:revenue';

export const cashOf = (userId: string): LedgerAccount => `user:${userId}:cash`;
export const reservedOf = (userId: string): LedgerAccount => `user:${userId}:reserved`;
export const FEES_ACCOUNT: LedgerAccount = 'fees';

/** The user and balance a user account names, or null for the platform's accounts. */
export function userBalanceOf(account: string): { userId: string; balance: 'cash' | 'reserved' } | null {
  const match = /^user:([0-9a-f-]{36}):(cash|reserved)$/.exec(account);
  return match ? { userId: match[1]!, balance: match[2] as 'cash' | 'reserved' } : null;
}

/** One journal transaction's postings without its zero lines; throws when they do not sum to zero. */
export function balancedPostings(kind: string, postings: readonly [LedgerAccount, number][]): [LedgerAccount, number][] {
  const lines = postings.filter(([, amount]) => amount !== 0);
  const sum = lines.reduce((total, [, amount]) => total + amount, 0);
  if (sum !== 0) throw new Error(`unbalanced journal transaction (${kind}): ${sum}`);
  return lines;
}
