// Issue 13, finding 1: under `npm start` every context and the gateway share one process, and one
// unhandled rejection ended them all. The fault policy (platform/src/process-faults.ts) logs and
// counts such a fault and keeps serving. A child process runs two contexts with that policy, as
// scripts/start.ts does; one of them is made to fault.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, graphqlClient } from '@vibestream/testkit';

const fixture = new URL('./fixtures/faulty-contexts.ts', import.meta.url).pathname;

let child: ChildProcess;
const lines: Record<string, unknown>[] = [];
let ports: { faulty: number; steady: number };

beforeAll(async () => {
  child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_FORMAT: 'json' } });
  ports = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the process exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      lines.push(entry);
      if (entry.ready) resolve(entry as unknown as { faulty: number; steady: number });
    });
  });
});

afterAll(() => {
  child?.kill('SIGKILL');
});

const at = (port: number) => graphqlClient(`http://127.0.0.1:${port}/graphql`);
const metric = async (port: number, kind: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^vibestream_unhandled_errors_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
};

describe('a fault nothing handled, in one context of a shared process', () => {
  it.each([
    ['rejection', 'abandonRejection', 'abandoned rejection', 'unhandled promise rejection; serving on'],
    ['exception', 'throwFromTimer', 'thrown from a timer', 'uncaught exception; serving on'],
  ])('an unhandled %s is logged with its request id and counted, and every context keeps answering', async (kind, field, message, logged) => {
    const requestId = `fault-${kind}`;
    const answer = await at(ports.faulty)(`{ ${field} }`, {}, { headers: { 'x-request-id': requestId } });
    expect(answer.data).toEqual({ [field]: true });

    const line = await eventually(
      async () => lines.find((l) => l.msg === logged && l.requestId === requestId),
      (found) => found !== undefined,
      5_000,
    );
    expect(line).toMatchObject({ level: 50, kind, err: { message } });
    expect(child.exitCode).toBeNull();
    expect((await at(ports.steady)('{ hello }')).data).toEqual({ hello: 'steady' });
    expect((await at(ports.faulty)('{ hello }')).data).toEqual({ hello: 'faulty' });
    expect(await metric(ports.steady, kind)).toBe(1);
  });
});
