// Voucher secrets and real Groth16 proofs, for the tests that claim: through the gateway
// (helpers.ts) or on rewards' own schema (use-cases tests). Needs neither a stack nor other contexts.
import { randomBytes } from 'node:crypto';
import { artifacts, poseidon1, poseidon2 } from '@vibestream/circuits';

type Snarkjs = {
  groth16: { fullProve: (input: object, wasm: string, zkey: string) => Promise<{ proof: Record<string, unknown>; publicSignals: string[] }> };
};
/** Loaded when the first proof is made: a test file that makes none does not pay for it. */
const snarkjs = async () => (await import('snarkjs')) as unknown as Snarkjs;

/** A random field element below 2^248 (well inside the BN254 field). */
export function randomField(): bigint {
  return BigInt(`0x${randomBytes(31).toString('hex')}`);
}

/** The voucher secrets a client keeps: commitment = Poseidon(nullifier, secret). */
export function newVoucherSecrets() {
  const nullifier = randomField();
  const secret = randomField();
  return { nullifier, secret, commitment: poseidon2(nullifier, secret), nullifierHash: poseidon1(nullifier) };
}

export interface MerklePathAnswer {
  root: string;
  pathElements: string[];
  pathIndices: number[];
}

/** Makes a real Groth16 proof from the committed wasm and zkey, for a voucher at `path`, paying `recipient`. */
export async function proveWithPath(secrets: { nullifier: bigint; secret: bigint }, path: MerklePathAnswer, recipient: string) {
  const { root, pathElements, pathIndices } = path;
  return (await snarkjs()).groth16.fullProve(
    { nullifier: secrets.nullifier, secret: secrets.secret, pathElements, pathIndices, root, recipient: BigInt(recipient) },
    artifacts.wasm,
    artifacts.zkey,
  );
}

export async function terminateSnarkjs() {
  await (globalThis as { curve_bn128?: { terminate?: () => Promise<void> } }).curve_bn128?.terminate?.();
}
