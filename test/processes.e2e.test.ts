// The production shape without Docker: every subgraph and the gateway as its own process
// (`node <workspace>/src/main.ts`, as each compose container runs it), sharing one PostgreSQL
// and Redis. Each must become ready on its own, and the gateway must serve across them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, freePort, type TestDatabase } from '@vibestream/testkit';
import { subgraphUrlVariable } from '@vibestream/gateway/config';
import { subgraphs } from '../subgraphs/index.ts';

const root = new URL('../', import.meta.url);

interface Process {
  name: string;
  child: ChildProcess;
  port: number;
  output: string[];
}

const processes: Process[] = [];
let database: TestDatabase;
let dataDir: string;

function startProcess(name: string, workspace: string, env: NodeJS.ProcessEnv, port: number): Process {
  const child = spawn(process.execPath, [`${workspace}/src/main.ts`], {
    cwd: new URL(root).pathname,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const started = { name, child, port, output };
  processes.push(started);
  return started;
}

async function waitReady(proc: Process, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.output.join('')}`);
    const status = await fetch(`http://127.0.0.1:${proc.port}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.status)
      .catch(() => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${proc.name} was not ready within ${timeoutMs} ms:\n${proc.output.join('')}`);
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('every subgraph and the gateway as their own processes', () => {
  let gatewayPort: number;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'vibestream-processes-'));
    gatewayPort = await freePort();
    const test = await createTestEnv('processes', { VIBESTREAM_DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`, HOST: '127.0.0.1' });
    database = test.database;
    const env: NodeJS.ProcessEnv = { ...process.env, ...test.env };
    const ports = new Map<string, number>();
    for (const module of subgraphs) ports.set(module.name, await freePort());
    // Started side by side, as compose starts the containers; each migrates its own schema.
    const started = subgraphs.map((module) => startProcess(module.name, `subgraphs/${module.name}`, env, ports.get(module.name)!));
    await Promise.all(started.map((p) => waitReady(p)));
    const gatewayEnv = { ...env, ...Object.fromEntries([...ports].map(([name, port]) => [subgraphUrlVariable(name), `http://127.0.0.1:${port}/graphql`])) };
    await waitReady(startProcess('gateway', 'gateway', gatewayEnv, gatewayPort));
  }, 240_000);

  afterAll(async () => {
    for (const proc of [...processes].reverse()) if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => exitOf(p.child)));
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('each answers /readyz, and the gateway serves a query across subgraphs', async () => {
    for (const proc of processes) expect((await fetch(`http://127.0.0.1:${proc.port}/readyz`)).status, proc.name).toBe(200);
    const response = await fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ plans { id } trendingSongs(first: 1) { id } }' }),
    });
    const body = (await response.json()) as { data?: { plans: { id: string }[] }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(body.data?.plans.map((p) => p.id)).toContain('FREE');
  });

  it('each stops cleanly on SIGTERM', async () => {
    for (const proc of [...processes].reverse()) {
      proc.child.kill('SIGTERM');
      expect(await exitOf(proc.child), `${proc.name}:\n${proc.output.join('')}`).toBe(0);
    }
  }, 60_000);
});
