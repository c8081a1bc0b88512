// Ctrl-C under `npm start` (README default: embedded PostgreSQL, in-process bus): the terminal
// signals the whole foreground process group; the app stops, then stops its database, exit 0,
// with no PostgreSQL termination warnings and nothing left running.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '@vibestream/platform';
import { freePort } from '@vibestream/testkit';
import { BANNER } from '@vibestream/testkit/npm-start';

let dataDir = '';
afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm start under Ctrl-C', () => {
  it('exits 0 quietly, the embedded PostgreSQL stopped after the app', { timeout: 240_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vibestream-ctrl-c-'));
    const postgresPort = await freePort();
    const child = spawn(process.execPath, ['scripts/start.ts'], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        VIBESTREAM_DATA_DIR: dataDir,
        GATEWAY_PORT: String(await freePort()),
        EMBEDDED_POSTGRES_PORT: String(postgresPort),
        ...Object.fromEntries(
          ['IDENTITY', 'CATALOG', 'REWARDS', 'OWNERSHIP', 'PAYMENTS', 'NOTIFICATIONS', 'CAMPAIGNS', 'LOYALTY', 'DISCOVERY'].map((name) => [
            `${name}_PORT`,
            '0',
          ]),
        ),
        LOG_FORMAT: 'json',
        WEB_APP_BUILD: 'off',
        DEMO_SEED: 'off',
      },
      // Its own process group, as a terminal's foreground job.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => output, { timeout: 200_000, interval: 200 }).toContain(BANNER);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited, output).toBe(0);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    expect(output).toMatch(/"msg":"shutting down"/);
    expect(output).not.toMatch(/FATAL|terminating connection|connection terminated|shutdown failed|"level":50/);
    expect(spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(postgresPort)]).status).not.toBe(0);
  });
});
