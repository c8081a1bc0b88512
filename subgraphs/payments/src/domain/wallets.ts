import type { CryptoMethod } from './deposits.ts';

/** The chains identity links wallets on (identity.wallet.linked.v1's `chain`). */
export type WalletChain = 'ETHEREUM' | 'SOLANA';

const chainOfMethods: Record<CryptoMethod, WalletChain> = { USDC_ETHEREUM: 'ETHEREUM', USDC_SOLANA: 'SOLANA' };

export function chainOfMethod(method: CryptoMethod): WalletChain {
  return chainOfMethods[method];
}

/**
 * What a deposit waits for when it finds no linked wallet (ProjectionWaits): the user's wallets on
 * that chain. payments' identity.wallet.linked.v1 handler signals it after each commit.
 */
export function linkedWalletsKey(userId: string, chain: WalletChain): string {
  return `${userId}:${chain}`;
}

/**
 * How payments spells a wallet address, so that a linked wallet and a chain's sender compare
 * equal: Ethereum in lower case (the EIP-55 checksum is only letter case), Solana base58 as is
 * (case matters). Null when it is not an address of the chain.
 */
export function walletKey(chain: WalletChain, address: string): string | null {
  const trimmed = address.trim();
  if (chain === 'ETHEREUM') return /^0x[0-9a-fA-F]{40}$/.test(trimmed) ? trimmed.toLowerCase() : null;
  return /^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(trimmed) ? trimmed : null;
}
