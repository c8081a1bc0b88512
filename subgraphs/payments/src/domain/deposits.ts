import type { paymentMethods } from '../events.ts';

export type PaymentMethod = (typeof paymentMethods)[number];
export type CryptoMethod = Exclude<PaymentMethod, 'CARD'>;

export const MIN_DEPOSIT_CENTS = 500;
export const MAX_DEPOSIT_CENTS = 1_000_000;

/** USDC has 6 decimals: one cent is 10^4 base units. */
export const USDC_BASE_UNITS_PER_CENT = 10_000n;

export function isValidDepositAmount(amountCents: number): boolean {
  return Number.isInteger(amountCents) && amountCents >= MIN_DEPOSIT_CENTS && amountCents <= MAX_DEPOSIT_CENTS;
}

export function usdcBaseUnits(amountCents: number): bigint {
  return BigInt(amountCents) * USDC_BASE_UNITS_PER_CENT;
}

export function isCryptoMethod(method: PaymentMethod): method is CryptoMethod {
  return method !== 'CARD';
}

/** An Ethereum transaction hash in its canonical (lower-case) form, or null when it is not one. */
export function normalizeEthereumTxHash(txHash: string): string | null {
  const trimmed = txHash.trim();
  return /^0x[0-9a-fA-F]{64}$/.test(trimmed) ? trimmed.toLowerCase() : null;
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A Solana transaction signature: base58 of exactly 64 bytes (case matters). */
export function normalizeSolanaSignature(signature: string): string | null {
  const trimmed = signature.trim();
  if (!/^[1-9A-HJ-NP-Za-km-z]{64,88}$/.test(trimmed)) return null;
  let value = 0n;
  for (const ch of trimmed) value = value * 58n + BigInt(BASE58.indexOf(ch));
  const leadingZeros = trimmed.length - trimmed.replace(/^1+/, '').length;
  const bytes = leadingZeros + (value === 0n ? 0 : Math.ceil(value.toString(16).length / 2));
  return bytes === 64 ? trimmed : null;
}

/** One ERC-20 Transfer log, decoded. */
export interface TokenTransfer {
  token: string;
  to: string;
  value: bigint;
}

/** Base units of `token` that the logs move to `recipient` (addresses compared case-insensitively). */
export function receivedByTransfers(transfers: TokenTransfer[], token: string, recipient: string): bigint {
  const t = token.toLowerCase();
  const r = recipient.toLowerCase();
  return transfers.filter((x) => x.token.toLowerCase() === t && x.to.toLowerCase() === r).reduce((sum, x) => sum + x.value, 0n);
}

/** One entry of a Solana transaction's pre/postTokenBalances. */
export interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner?: string | undefined;
  amount: string;
}

/** Net change of `owner`'s balance of `mint` over a transaction, summed over the owner's token accounts. */
export function tokenBalanceIncrease(pre: TokenBalance[], post: TokenBalance[], owner: string, mint: string): bigint {
  const mine = (b: TokenBalance) => b.owner === owner && b.mint === mint;
  const total = (list: TokenBalance[]) => list.filter(mine).reduce((sum, b) => sum + BigInt(b.amount), 0n);
  return total(post) - total(pre);
}

/** What reading a deposit's transaction from its chain found. */
export type ChainCheck =
  | { kind: 'unknown' }
  | { kind: 'failed' }
  | { kind: 'not-final'; confirmations: number; required: number }
  | { kind: 'received'; amount: bigint };

/** Why a transaction cannot fund a deposit, or null when it can. */
export function refusalOf(check: ChainCheck, expected: bigint): string | null {
  switch (check.kind) {
    case 'unknown':
      return 'No such transaction (or it is not final yet)';
    case 'failed':
      return 'The transaction failed';
    case 'not-final':
      return `The transaction is not final yet (${check.confirmations} of ${check.required} confirmations); try again later`;
    case 'received':
      if (check.amount <= 0n) return 'The transaction sends no USDC to the deposit address';
      if (check.amount < expected) return `The transaction sends ${check.amount} USDC base units to the deposit address; the deposit needs ${expected}`;
      return null;
  }
}
