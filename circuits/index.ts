// Helpers shared by the circuit's build, its tests and the rewards subgraph.
// The circuit (listen_reward.circom) and its publicSignals order are described in README.md.
import { fileURLToPath } from 'node:url';
import { poseidon1 as poseidonLite1, poseidon2 as poseidonLite2 } from 'poseidon-lite';

/** Merkle tree depth compiled into the committed circuit. */
export const DEPTH = 20;

/** The BN254 scalar field order; every signal is reduced modulo this. */
export const SNARK_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

const artifact = (name: string): string => fileURLToPath(new URL(`./artifacts/${name}`, import.meta.url));

/** Absolute paths of the committed artifacts. */
export const artifacts = {
  wasm: artifact('listen_reward.wasm'),
  zkey: artifact('listen_reward_final.zkey'),
  verificationKey: artifact('verification_key.json'),
  verifierSol: artifact('Verifier.sol'),
} as const;

/** Poseidon of one field element, as in circomlib's Poseidon(1). */
export function poseidon1(a: bigint): bigint {
  return poseidonLite1([a]);
}

/** Poseidon of two field elements, as in circomlib's Poseidon(2). Also the tree's node hash. */
export function poseidon2(a: bigint, b: bigint): bigint {
  return poseidonLite2([a, b]);
}

/**
 * Roots of empty subtrees: zeroHashes(depth)[i] is the root of an all-empty subtree of
 * height i (index 0 is the empty leaf, 0), up to and including index `depth`, the root
 * of an empty tree of that depth.
 */
export function zeroHashes(depth: number = DEPTH): bigint[] {
  const zeros: bigint[] = [0n];
  for (let i = 0; i < depth; i++) zeros.push(poseidon2(zeros[i]!, zeros[i]!));
  return zeros;
}
