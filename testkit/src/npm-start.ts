// `npm start` exactly as the README runs it, for tests: `node scripts/start.ts` as a child process
// with no DATABASE_URL and no REDIS_URL (an embedded PostgreSQL and the in-process event bus), in a
// scratch data folder on free ports, ready once it prints its banner.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@vibestream/platform';
import { graphqlClient, type GraphQLRequest } from './client.ts';
import { freePort } from './stack.ts';

export const BANNER = 'VibeStream gateway ready at';

/** What a developer's shell passes on; anything else (DATABASE_URL, REDIS_URL, NODE_ENV=test, STRIPE_*) is left out. */
const SHELL_VARIABLES = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'CHROMIUM_PATH'];

export interface NpmStart {
  /** http://127.0.0.1:<port> */
  publicUrl: string;
  /** http://127.0.0.1:<port>/graphql */
  gatewayUrl: string;
  gql: GraphQLRequest;
  dataDir: string;
  /** What the process printed so far (stdout and stderr, the last few hundred chunks). */
  output(): string;
  stop(): Promise<void>;
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts `node scripts/start.ts` with `env` added to a plain shell's environment, and waits for its banner. */
export async function startNpmStart(label: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<NpmStart> {
  const dataDir = await mkdtemp(join(tmpdir(), `vibestream-${label}-`));
  const [gatewayPort, postgresPort] = [await freePort(), await freePort()];
  const publicUrl = `http://127.0.0.1:${gatewayPort}`;
  const shell = Object.fromEntries(SHELL_VARIABLES.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]));
  const child = spawn(process.execPath, ['scripts/start.ts'], {
    cwd: projectRoot,
    env: {
      ...shell,
      VIBESTREAM_DATA_DIR: dataDir,
      GATEWAY_PORT: String(gatewayPort),
      EMBEDDED_POSTGRES_PORT: String(postgresPort),
      PUBLIC_URL: publicUrl,
      // Subgraphs on free loopback ports: the gateway is told where each one is.
      ...Object.fromEntries(
        ['IDENTITY', 'CATALOG', 'REWARDS', 'OWNERSHIP', 'PAYMENTS', 'NOTIFICATIONS', 'CAMPAIGNS', 'LOYALTY', 'DISCOVERY'].map((name) => [`${name}_PORT`, '0']),
      ),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL && process.env.TEST_LOG_LEVEL !== 'silent' ? process.env.TEST_LOG_LEVEL : 'info',
      ...env,
    },
    // Its own process group, so nothing it started outlives the test.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  const keep = (chunk: Buffer) => {
    chunks.push(chunk.toString());
    if (chunks.length > 400) chunks.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const output = () => chunks.join('');

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exitOf(child), new Promise((resolve) => setTimeout(resolve, 20_000))]);
    }
    // Whatever of its process group is left (an embedded PostgreSQL it did not stop), then the
    // PostgreSQL this data folder's pid file names, in case it left the group.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
    const pidFile = join(dataDir, 'postgres', 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      try {
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch {
        // not running
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (!output().includes(BANNER)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`npm start exited (${child.exitCode ?? child.signalCode}) before its banner:\n${output()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`npm start printed no banner within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const gatewayUrl = `${publicUrl}/graphql`;
  return { publicUrl, gatewayUrl, gql: graphqlClient(gatewayUrl), dataDir, output, stop };
}
