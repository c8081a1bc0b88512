import { getAddress, isAddress, verifyMessage } from 'ethers';
import { PublicKey } from '@solana/web3.js';
import nacl from 'tweetnacl';
import bs58 from 'bs58';

export type Chain = 'ETHEREUM' | 'SOLANA';

export const MAX_CHALLENGE_TTL_SECONDS = 600;

/** The most wallets one user links. User.wallets declares it (@listSize(assumedSize: 10)): the gateway prices queries by it. */
export const MAX_WALLETS_PER_USER = 10;

/** The canonical form of an address (EIP-55 checksum for Ethereum), or null when malformed. */
export function normalizeAddress(chain: Chain, address: string): string | null {
  const trimmed = address.trim();
  if (chain === 'ETHEREUM') return isAddress(trimmed) ? getAddress(trimmed) : null;
  try {
    const key = new PublicKey(trimmed);
    // A wallet key is an ed25519 point and prints back to the same base58 text.
    return key.toBase58() === trimmed && PublicKey.isOnCurve(key.toBytes()) ? trimmed : null;
  } catch {
    return null;
  }
}

export interface ChallengeFields {
  chain: Chain;
  address: string;
  /** Host and URI of the gateway's public address, as in EIP-4361. */
  domain: string;
  uri: string;
  nonce: string;
  issuedAt: Date;
  expiresAt: Date;
}

/** An EIP-4361 (Sign-In with Ethereum) style message; the Solana variant names its chain the same way. */
export function challengeMessage(f: ChallengeFields): string {
  const account = f.chain === 'ETHEREUM' ? 'Ethereum' : 'Solana';
  return [
    `${f.domain} wants you to sign in with your ${account} account:`,
    f.address,
    '',
    'Link this wallet to your VibeStream account. Signing costs nothing and moves no funds.',
    '',
    `URI: ${f.uri}`,
    'Version: 1',
    `Chain ID: ${f.chain === 'ETHEREUM' ? '1' : 'solana:mainnet'}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${f.issuedAt.toISOString()}`,
    `Expiration Time: ${f.expiresAt.toISOString()}`,
  ].join('\n');
}

/** True when `signature` is `address`'s signature of `message` (EIP-191 for Ethereum, ed25519 for Solana). */
export function isValidWalletSignature(chain: Chain, address: string, message: string, signature: string): boolean {
  try {
    if (chain === 'ETHEREUM') return getAddress(verifyMessage(message, signature.trim())) === address;
    const signatureBytes = bs58.decode(signature.trim());
    if (signatureBytes.length !== nacl.sign.signatureLength) return false;
    return nacl.sign.detached.verify(new TextEncoder().encode(message), signatureBytes, new PublicKey(address).toBytes());
  } catch {
    return false;
  }
}
