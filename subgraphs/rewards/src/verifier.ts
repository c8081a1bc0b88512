import { Worker } from 'node:worker_threads';

interface Pending {
  resolve: (valid: boolean) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
  ready: Promise<void>;
}

/**
 * Groth16 verification off the event loop: a fixed pool of worker threads, each with the
 * verification key loaded once; jobs go to the least busy worker.
 */
export class ProofVerifierPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(verificationKeyPath: string, threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./verifier-worker.ts', import.meta.url), {
        // ffjavascript loads the `web-worker` shim, which in any worker thread evaluates workerData.mod
        // (and logs an error when there is none); an empty module keeps it quiet.
        workerData: { verificationKeyPath, mod: 'data:text/javascript,' },
      });
      const slot: Slot = {
        worker,
        busy: 0,
        ready: new Promise((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', () => resolve());
        }),
      };
      worker.on('message', (message: { id?: number; valid?: boolean }) => {
        if (message.id === undefined) return;
        slot.busy--;
        const job = this.pending.get(message.id);
        this.pending.delete(message.id);
        job?.resolve(message.valid === true);
      });
      worker.on('error', (error) => {
        for (const [id, job] of this.pending) {
          job.reject(error);
          this.pending.delete(id);
        }
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  async verify(proof: unknown, publicSignals: string[]): Promise<boolean> {
    if (this.closed) throw new Error('verifier pool is closed');
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    await slot.ready;
    const id = this.nextId++;
    slot.busy++;
    return new Promise<boolean>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, proof, publicSignals });
    });
  }

  /** Ends every worker (and snarkjs's curve in it), so the process can exit. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void slot.worker.terminate().then(() => resolve()), 2_000);
            slot.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            slot.worker.postMessage('stop');
          }),
      ),
    );
  }
}
