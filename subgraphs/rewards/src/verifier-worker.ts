// A worker thread that verifies Groth16 proofs with the verification key loaded once.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const snarkjs = (await import('snarkjs')) as unknown as {
  groth16: { verify: (vkey: unknown, publicSignals: string[], proof: unknown) => Promise<boolean> };
};
// Inside a worker snarkjs cannot start workers of its own: hand it a single-threaded curve.
// Only after importing snarkjs, whose ffjavascript resets globalThis.curve_bn128 as it loads.
const ffjavascript = (await import('ffjavascript')) as unknown as { buildBn128: (singleThread: boolean) => Promise<unknown> };
(globalThis as { curve_bn128?: unknown }).curve_bn128 = await ffjavascript.buildBn128(true);
const verificationKey: unknown = JSON.parse(readFileSync((workerData as { verificationKeyPath: string }).verificationKeyPath, 'utf8'));

interface Job {
  id: number;
  proof: unknown;
  publicSignals: string[];
}

parentPort!.on('message', (job: Job | 'stop') => {
  if (job === 'stop') {
    void (globalThis as { curve_bn128?: { terminate?: () => Promise<void> } }).curve_bn128?.terminate?.().finally(() => process.exit(0));
    return;
  }
  snarkjs.groth16
    .verify(verificationKey, job.publicSignals, job.proof)
    .then((valid) => parentPort!.postMessage({ id: job.id, valid }))
    .catch((error: unknown) => parentPort!.postMessage({ id: job.id, valid: false, error: String((error as Error)?.stack ?? error) }));
});
parentPort!.postMessage({ ready: true });
