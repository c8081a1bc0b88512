/** The BN254 scalar field: circuit signals live below this prime. */
export const FIELD_PRIME = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** A canonical decimal field element, or null. */
export function parseFieldElement(value: string): bigint | null {
  if (!/^(0|[1-9]\d{0,77})$/.test(value.trim())) return null;
  const n = BigInt(value.trim());
  return n < FIELD_PRIME ? n : null;
}

/** An Ethereum address as a field element (its 160-bit number), as the circuit's `recipient`. */
export function addressToField(address: string): bigint {
  return BigInt(address);
}

/** The address a `recipient` field element names, or null when it is not a 160-bit value. */
export function fieldToAddress(value: bigint): string | null {
  if (value < 0n || value >= 1n << 160n) return null;
  return `0x${value.toString(16).padStart(40, '0')}`;
}
