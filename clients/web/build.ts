// Builds the web app with Vite's API (used by `npm start` and the browser test), and tells
// whether dist/ is older than its sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const webRoot = fileURLToPath(new URL('.', import.meta.url));
export const defaultOutDir = join(webRoot, 'dist');

/** Everything the bundle is made from: the app, its static files (the service worker), its config, the generated documents, the circuit artifacts. */
const sources = [
  join(webRoot, 'src'),
  join(webRoot, 'index.html'),
  join(webRoot, 'public'),
  join(webRoot, 'vite.config.ts'),
  join(webRoot, '../generated'),
  join(webRoot, '../../circuits/artifacts'),
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

export function webAppIsStale(outDir = defaultOutDir): boolean {
  const index = join(outDir, 'index.html');
  if (!existsSync(index)) return true;
  return Math.max(...sources.map(newestMtime)) > statSync(index).mtimeMs;
}

export async function buildWebApp(outDir = defaultOutDir, options: { quiet?: boolean } = {}): Promise<string> {
  const { build } = await import('vite');
  // A production bundle even when the caller runs with NODE_ENV=test (vitest) or development.
  const callerNodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: join(webRoot, 'vite.config.ts'),
      root: webRoot,
      mode: 'production',
      logLevel: options.quiet ? 'warn' : 'info',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    if (callerNodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = callerNodeEnv;
  }
  return outDir;
}

/** Builds dist/ when it is missing or older than its sources; returns whether it built. */
export async function ensureWebAppBuilt(outDir = defaultOutDir, options: { quiet?: boolean } = {}): Promise<boolean> {
  if (!webAppIsStale(outDir)) return false;
  await buildWebApp(outDir, options);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWebApp();
