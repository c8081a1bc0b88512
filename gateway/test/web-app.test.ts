// The web client's static handler on its own: a plain HTTP server in front of createWebApp over
// a temporary dist folder.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebApp } from '../src/web-app.ts';

let root: string;
let server: Server;
let base: string;

/** A raw request: fetch would normalise `..` away before it leaves the client. */
function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const parent = await mkdtemp(join(tmpdir(), 'vs-web-app-'));
  root = join(parent, 'dist');
  await mkdir(join(root, 'assets'), { recursive: true });
  await writeFile(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
  await writeFile(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
  await writeFile(join(root, 'assets', 'circuit-abc123.wasm'), Buffer.from([0, 97, 115, 109]));
  await writeFile(join(parent, 'secret.txt'), 'not for the web');
  // Vite copies clients/web/public/ to the root of dist/: the Web Push service worker among it.
  await copyFile(new URL('../../clients/web/public/sw.js', import.meta.url), join(root, 'sw.js'));
  const app = createWebApp(root)!;
  server = createServer((req, res) => {
    if (!app.serve(req, res)) {
      res.writeHead(404);
      res.end('not the app');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(join(root, '..'), { recursive: true, force: true });
});

describe('web app handler', () => {
  it('is absent when the app has not been built', () => {
    expect(createWebApp(join(tmpdir(), 'no-such-dist-folder'))).toBeNull();
  });

  it('serves index.html at / and for every extension-less app route, never cached stale', async () => {
    for (const path of ['/', '/songs/42/market', '/rewards?x=1']) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain('<div id="root">');
    }
  });

  it('serves hashed assets with their content type, cached for a year, and answers 304 to a matching ETag', async () => {
    const js = await get('/assets/index-abc123.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log(1)');
    expect((await get('/assets/circuit-abc123.wasm')).headers['content-type']).toBe('application/wasm');
    const again = await get('/assets/index-abc123.js', { 'if-none-match': String(js.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const head = await get('/assets/index-abc123.js', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('14');
  });

  it('leaves missing files, other methods and paths outside the folder to the caller', async () => {
    expect((await get('/assets/missing.js')).status).toBe(404);
    expect((await get('/%2e%2e/secret.txt')).status).toBe(404);
    expect((await get('/..%2fsecret.txt')).status).toBe(404);
    expect((await get('/%E0%A4%A')).status).toBe(404);
    expect((await get('/', {}, 'POST')).status).toBe(404);
  });
  it('serves the service worker at /sw.js as JavaScript, revalidated on every load (so its scope is the whole app and updates are seen)', async () => {
    const res = await get('/sw.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body).toBe(await readFile(new URL('../../clients/web/public/sw.js', import.meta.url), 'utf8'));
    expect(res.body).toContain("addEventListener('push'");
    expect(res.body).toContain("addEventListener('notificationclick'");
  });
});
