import { poseidon2 } from 'poseidon-lite/poseidon2';

/** A random field element below 2^248 (well inside BN254's scalar field), from the browser's CSPRNG. */
export function randomFieldElement(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(31));
  return BigInt(`0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`);
}

/** A voucher's secrets; the server only ever sees commitment = Poseidon(nullifier, secret). */
export function newVoucherSecrets(): { nullifier: string; secret: string; commitment: string } {
  const nullifier = randomFieldElement();
  const secret = randomFieldElement();
  return { nullifier: nullifier.toString(), secret: secret.toString(), commitment: poseidon2([nullifier, secret]).toString() };
}

/** An Ethereum address as the circuit's `recipient` field element; null when malformed. */
export function recipientField(address: string): string | null {
  return /^0x[0-9a-fA-F]{40}$/.test(address.trim()) ? BigInt(address.trim()).toString() : null;
}
