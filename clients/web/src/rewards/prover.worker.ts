// Generates the Groth16 proof off the page's main thread with snarkjs, from the committed
// circuit artifacts the build serves as static assets.
import { groth16 } from 'snarkjs';
import type { ProveRequest, ProverMessage } from './prover-protocol.ts';

const post = (message: ProverMessage) => self.postMessage(message);

/** Fetches the artifacts, reporting bytes as they arrive (the zkey is a few MB). */
async function download(urls: string[]): Promise<Uint8Array[]> {
  const responses = await Promise.all(
    urls.map(async (url) => {
      const response = await fetch(url);
      if (!response.ok || !response.body) throw new Error(`Could not load ${url} (HTTP ${response.status})`);
      return response;
    }),
  );
  const totals = responses.map((r) => Number(r.headers.get('content-length') ?? 0));
  const total = totals.reduce((a, b) => a + b, 0);
  let loaded = 0;
  return Promise.all(
    responses.map(async (response) => {
      const reader = response.body!.getReader();
      const chunks: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.length;
        post({ kind: 'download', loaded, total: Math.max(total, loaded) });
      }
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let offset = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, offset);
        offset += chunk.length;
      }
      return bytes;
    }),
  );
}

self.onmessage = async (event: MessageEvent<ProveRequest>) => {
  const { input, wasmUrl, zkeyUrl } = event.data;
  try {
    const [wasm, zkey] = await download([wasmUrl, zkeyUrl]);
    post({ kind: 'step', text: 'Computing the witness' });
    const logger = {
      debug: (text: string) => post({ kind: 'step', text }),
      info: (text: string) => post({ kind: 'step', text }),
      warn: () => undefined,
      error: () => undefined,
    };
    const { proof, publicSignals } = await groth16.fullProve(input, wasm!, zkey!, logger);
    post({ kind: 'done', proof, publicSignals });
  } catch (error) {
    post({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
};
