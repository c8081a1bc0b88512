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
  from: string;
  to: string;
  value: bigint;
}

/** A wallet whose USDC a transaction moved toward the deposit address, and how much. */
export interface Sender {
  /** The wallet's address as `walletKey` spells it. */
  wallet: string;
  amount: bigint;
}

/** What a transaction paid to the deposit address and whose funds paid it. */
export interface Inflow {
  /** Base units the deposit address received. */
  received: bigint;
  senders: Sender[];
}

/**
 * The token `transfers` to `recipient`, per sender (the log's `from`, spelled by `key`):
 * addresses compared case-insensitively.
 */
export function inflowOfTransfers(transfers: TokenTransfer[], token: string, recipient: string, key: (address: string) => string): Inflow {
  const t = token.toLowerCase();
  const r = recipient.toLowerCase();
  const bySender = new Map<string, bigint>();
  let received = 0n;
  for (const x of transfers) {
    if (x.token.toLowerCase() !== t || x.to.toLowerCase() !== r) continue;
    received += x.value;
    const wallet = key(x.from);
    bySender.set(wallet, (bySender.get(wallet) ?? 0n) + x.value);
  }
  return { received, senders: [...bySender].map(([wallet, amount]) => ({ wallet, amount })) };
}

/** One entry of a Solana transaction's pre/postTokenBalances. */
export interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner?: string | undefined;
  amount: string;
}

/** Net change of each owner's balance of `mint` over a transaction, summed over the owner's token accounts. */
function balanceChanges(pre: TokenBalance[], post: TokenBalance[], mint: string): Map<string, bigint> {
  const changes = new Map<string, bigint>();
  const add = (list: TokenBalance[], sign: bigint) => {
    for (const b of list) {
      if (b.mint !== mint || b.owner === undefined) continue;
      changes.set(b.owner, (changes.get(b.owner) ?? 0n) + sign * BigInt(b.amount));
    }
  };
  add(pre, -1n);
  add(post, 1n);
  return changes;
}

/**
 * What `owner` received of `mint` (the rise of its balance) and whose balances of the mint fell
 * to pay it: Solana records balances, not who paid whom, so every owner whose balance fell is a sender.
 */
export function inflowOfBalances(pre: TokenBalance[], post: TokenBalance[], owner: string, mint: string): Inflow {
  const changes = balanceChanges(pre, post, mint);
  const senders = [...changes].filter(([wallet, change]) => wallet !== owner && change < 0n).map(([wallet, change]) => ({ wallet, amount: -change }));
  return { received: changes.get(owner) ?? 0n, senders };
}

/**
 * What the transaction may fund a deposit with, for a user whose linked wallets are `linked`:
 * only what came from those wallets. On Ethereum the senders' amounts add up to `received`; on
 * Solana a linked wallet may also have paid others in the same transaction, hence the minimum.
 */
export function creditableAmount(inflow: Inflow, linked: ReadonlySet<string>): bigint {
  const fromLinked = inflow.senders.filter((s) => linked.has(s.wallet)).reduce((sum, s) => sum + s.amount, 0n);
  return fromLinked < inflow.received ? fromLinked : inflow.received;
}

/** What reading a deposit's transaction from its chain found. */
export type ChainCheck =
  { kind: 'unknown' } | { kind: 'failed' } | { kind: 'not-final'; confirmations: number; required: number } | ({ kind: 'received' } & Inflow);

/**
 * Why a transaction cannot fund a deposit of `expected` base units for a user whose linked
 * wallets on the deposit's chain are `linked`, or null when it can.
 */
export function refusalOf(check: ChainCheck, expected: bigint, linked: ReadonlySet<string>): string | null {
  switch (check.kind) {
    case 'unknown':
      return 'No such transaction (or it is not final yet)';
    case 'failed':
      return 'The transaction failed';
    case 'not-final':
      return `The transaction is not final yet (${check.confirmations} of ${check.required} confirmations); try again later`;
    case 'received': {
      if (check.received <= 0n) return 'The transaction sends no USDC to the deposit address';
      const creditable = creditableAmount(check, linked);
      if (creditable <= 0n) {
        const from = check.senders.length > 0 ? ` (this one comes from ${check.senders.map((s) => s.wallet).join(', ')})` : '';
        return `The transfer must come from a wallet linked to your account${from}; link your wallet in your account settings, then confirm again`;
      }
      if (creditable < expected) {
        return `The transaction sends ${creditable} USDC base units from wallets linked to your account to the deposit address; the deposit needs ${expected}`;
      }
      return null;
    }
  }
}
