/**
 * Serves the built web client (clients/web/dist) at `/`: its files with their content types,
 * long-lived caching for Vite's content-hashed `/assets/`, and index.html for every other app
 * path (the client routes with the history API). GraphQL, media and health routes are matched
 * before this; a path that names a missing file (`/x.js`) is a 404, not the app.
 */
import { createReadStream, existsSync, statSync, type Stats } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { projectRoot, type Logger } from '@vibestream/platform';

export const DEFAULT_WEB_APP_DIR = 'clients/web/dist';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface WebApp {
  /** Answers a GET or HEAD for the app; false when the request is not the app's (then 404 is the caller's). */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
}

/** The app in `dir` (relative to the project root), or null when it has not been built. */
export function createWebApp(dir: string = DEFAULT_WEB_APP_DIR, log?: Logger): WebApp | null {
  const root = resolve(projectRoot, dir);
  const index = join(root, 'index.html');
  if (!existsSync(index)) {
    log?.info({ dir: root }, 'web app not built (npm run build -w clients/web); serving the API only');
    return null;
  }
  return {
    serve(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://app').pathname);
      } catch {
        return false;
      }
      const file = resolve(root, `.${path}`);
      if (file !== root && !file.startsWith(root + sep)) return false;
      const stat = fileStat(file);
      if (stat) return send(req, res, file, stat, path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      // App routes have no extension; anything else that is missing is not the app's.
      if (extname(path) !== '') return false;
      const indexStat = fileStat(index);
      return indexStat ? send(req, res, index, indexStat, 'no-cache') : false;
    },
  };
}

function fileStat(file: string): Stats | null {
  try {
    const stat = statSync(file);
    return stat.isFile() ? stat : null;
  } catch {
    return null;
  }
}

function send(req: IncomingMessage, res: ServerResponse, file: string, stat: Stats, cacheControl: string): boolean {
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const headers = {
    'content-type': contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'cache-control': cacheControl,
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'x-content-type-options': 'nosniff',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  res.writeHead(200, { ...headers, 'content-length': String(stat.size) });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
  return true;
}
