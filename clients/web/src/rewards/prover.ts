import wasmUrl from '@vibestream/circuits/artifacts/listen_reward.wasm?url';
import zkeyUrl from '@vibestream/circuits/artifacts/listen_reward_final.zkey?url';
import type { Groth16Proof } from 'snarkjs';
import type { ProofInput, ProverMessage } from './prover-protocol.ts';

export interface ProofProgress {
  /** 0..1 while downloading the circuit; null once proving (indeterminate). */
  fraction: number | null;
  text: string;
}

/** Proves in a fresh Web Worker (terminated afterwards, which frees snarkjs's memory and threads). */
export function proveInWorker(input: ProofInput, onProgress: (progress: ProofProgress) => void): Promise<{ proof: Groth16Proof; publicSignals: string[] }> {
  const worker = new Worker(new URL('./prover.worker.ts', import.meta.url), { type: 'module' });
  return new Promise<{ proof: Groth16Proof; publicSignals: string[] }>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<ProverMessage>) => {
      const message = event.data;
      switch (message.kind) {
        case 'download':
          onProgress({
            fraction: message.total ? message.loaded / message.total : null,
            text: `Loading the circuit (${Math.round(message.loaded / 1024)} KB)`,
          });
          break;
        case 'step':
          onProgress({ fraction: null, text: message.text });
          break;
        case 'done':
          resolve({ proof: message.proof, publicSignals: message.publicSignals });
          break;
        case 'failed':
          reject(new Error(message.message));
          break;
      }
    };
    worker.onerror = (event) => reject(new Error(event.message || 'The prover stopped'));
    worker.postMessage({ input, wasmUrl, zkeyUrl });
  }).finally(() => worker.terminate());
}
