import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app is served by the gateway from dist/ (same origin as /graphql and /media/), so every
// URL the app uses is relative. In development, `npm run dev -w clients/web` proxies to a
// gateway on VIBESTREAM_GATEWAY (default http://localhost:4000).
const gateway = gatewayUrl(process.env.VIBESTREAM_GATEWAY);

/** VIBESTREAM_GATEWAY, checked like every other variable (scripts/environment.ts documents it). */
function gatewayUrl(value: string | undefined): string {
  if (!value) return 'http://localhost:4000';
  if (!URL.canParse(value)) throw new Error('Invalid configuration:\n  - VIBESTREAM_GATEWAY: Invalid URL');
  return value;
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // The prover worker imports snarkjs: an ES module worker.
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // snarkjs is large; it lives only in the worker's chunk.
    chunkSizeWarningLimit: 4096,
  },
  server: {
    proxy: {
      '/graphql': { target: gateway, ws: true },
      '/media': { target: gateway },
      // A form_post OpenID provider (Apple) answers here; the gateway sends the browser on to /auth/callback.
      '/oidc/form-post': { target: gateway },
    },
  },
});
