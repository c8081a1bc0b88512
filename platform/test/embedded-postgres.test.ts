import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@vibestream/testkit';

const app = fileURLToPath(new URL('./fixtures/embedded-postgres-app.ts', import.meta.url));

describe('embedded PostgreSQL under Ctrl-C', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps running while the terminal signals the app, and stops after it, quietly', { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'vs-embedded-pg-'));
    const port = await freePort();
    const { DATABASE_URL: _unset, ...inherited } = process.env;
    // detached: the app leads its own process group, as a terminal's foreground job does.
    const child = spawn(process.execPath, [app], {
      detached: true,
      env: { ...inherited, NODE_ENV: 'development', LOG_FORMAT: 'json', LOG_LEVEL: 'debug', VIBESTREAM_DATA_DIR: dir, EMBEDDED_POSTGRES_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await expect.poll(() => output, { timeout: 90_000, interval: 100 }).toContain('READY');

    // Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/FATAL|terminating connection|query failed|pool connection error|shutdown failed/i);
    expect(output).toMatch(/"msg":"shutting down"/);

    // The server is gone too: nothing listens on its port, and its data directory is free.
    const probe = spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(port)], { encoding: 'utf8' });
    expect(probe.status).not.toBe(0);
  });
});
