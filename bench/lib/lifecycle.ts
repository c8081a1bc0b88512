/**
 * Start and end of a benchmark run: its own database and Redis prefix (removed at the end),
 * cleanup steps, and an exit that runs them also on Ctrl-C or SIGTERM.
 */
import { Redis } from '@vibestream/platform';
import { createTestEnv } from '@vibestream/testkit';
import { stopChildren } from './children.ts';

const cleanups: (() => Promise<void> | void)[] = [];

/** Registers a step to run at the end, after the server children have stopped; the last registered runs first. */
export function onCleanup(step: () => Promise<void> | void): void {
  cleanups.push(step);
}

/**
 * createTestEnv (a fresh database, a fresh Redis prefix, signing keys) with the database dropped
 * and the prefix's Redis keys deleted at the end.
 */
export async function benchEnv(label: string, overrides: NodeJS.ProcessEnv = {}) {
  const created = await createTestEnv(label, overrides);
  onCleanup(() => created.database.drop());
  onCleanup(() => deleteRedisKeys(created.env.REDIS_URL!, created.env.REDIS_PREFIX!));
  return created;
}

/** Deletes every key under `prefix`; best effort (keys under a bench-only prefix are harmless leftovers). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // See above.
  } finally {
    redis.disconnect();
  }
}

let exiting = false;

/**
 * Stops the children, runs the cleanup steps (each even when another fails) and exits with
 * `code`. Only the first call does anything: a later one (main failing because Ctrl-C stopped
 * its servers) must not cut the cleanup short.
 */
export async function finish(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  for (const step of [stopChildren, ...cleanups.reverse()]) {
    try {
      await step();
    } catch (error) {
      console.error('cleanup failed:', error);
      code = code || 1;
    }
  }
  process.exit(code);
}

/** Runs `main` and exits with its code (1 when it throws), cleaning up first; also on SIGINT/SIGTERM. */
export function runBench(main: () => Promise<number>): void {
  process.once('SIGINT', () => void finish(130));
  process.once('SIGTERM', () => void finish(143));
  main().then(
    (code) => finish(code),
    (error: unknown) => {
      console.error(error);
      return finish(1);
    },
  );
}
