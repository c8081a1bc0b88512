import type { Groth16Proof } from 'snarkjs';

/** The circuit's inputs as decimal strings (see circuits/README.md and the rewards contract). */
export type ProofInput = {
  nullifier: string;
  secret: string;
  pathElements: string[];
  pathIndices: number[];
  root: string;
  recipient: string;
};

export interface ProveRequest {
  input: ProofInput;
  wasmUrl: string;
  zkeyUrl: string;
}

/** What the worker reports while it works: downloads (bytes), proving steps, then the result. */
export type ProverMessage =
  | { kind: 'download'; loaded: number; total: number }
  | { kind: 'step'; text: string }
  | { kind: 'done'; proof: Groth16Proof; publicSignals: string[] }
  | { kind: 'failed'; message: string };
