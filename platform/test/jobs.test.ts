import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createLogger,
  enqueueJob,
  jobsByKeys,
  jobsMigrationSql,
  openDatabase,
  openPersistence,
  PermanentJobError,
  processMetrics,
  row,
  SkipJobError,
  sql,
  sqlMigration,
  startJobWorker,
  type JobWorker,
  type MikroORM,
  type Persistence,
} from '@vibestream/platform';
import { createTestDatabase, type TestDatabase } from '@vibestream/testkit';

const log = createLogger('jobs-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let database: TestDatabase;
let orm: MikroORM;
let db: Persistence;
const workers: JobWorker[] = [];

beforeAll(async () => {
  database = await createTestDatabase('jobs');
  orm = await openDatabase({ url: database.url, schema: 'jobstest', entities: [], migrations: [sqlMigration('0001_jobs', jobsMigrationSql)], log });
  db = openPersistence(orm, { source: 'jobstest' });
});

afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await orm?.close();
  await database?.drop();
});

const Payload = z.object({ secret: z.unknown() }).nullable();
const payloadOf = async (key: string) => (await row(db.reader(), z.object({ payload: Payload }), sql`select payload from jobs where key = ${key}`))?.payload;
const stateOf = async (key: string) => (await jobsByKeys(db.reader(), [key]))[0];
const worker = (options: Parameters<typeof startJobWorker>[1]) => {
  const w = startJobWorker(db, { pollMs: 60_000, ...options });
  workers.push(w);
  return w;
};

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() - start > timeoutMs) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the job queue', () => {
  it('adds a key once: a second enqueue of the same key answers false and adds nothing', async () => {
    const first = await db.useCase((tx) => enqueueJob(tx, { kind: 'k.none', key: 'dedupe-1', payload: { n: 1 } }));
    const again = await db.useCase((tx) => enqueueJob(tx, { kind: 'k.none', key: 'dedupe-1', payload: { n: 2 } }));
    // Concurrent duplicates: one wins.
    const racing = await Promise.all(Array.from({ length: 5 }, () => db.useCase((tx) => enqueueJob(tx, { kind: 'k.none', key: 'dedupe-2', payload: {} }))));
    expect([first, again]).toEqual([true, false]);
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect(await jobsByKeys(db.reader(), ['dedupe-1', 'dedupe-2', 'missing'])).toHaveLength(2);
  });

  it('enqueues nothing when the transaction rolls back', async () => {
    await expect(
      db.useCase(async (tx) => {
        await enqueueJob(tx, { kind: 'k.none', key: 'rolled-back', payload: {} });
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await stateOf('rolled-back')).toBeUndefined();
  });

  it('runs a job once its transaction committed (woken, not polled), and may clear its payload when sent', async () => {
    const seen: string[] = [];
    worker({ handlers: { 'k.ok': async (payload: { secret: string }, job) => void seen.push(`${job.key}:${payload.secret}:${job.attempt}`) }, log });
    await db.useCase((tx) => enqueueJob(tx, { kind: 'k.ok', key: 'ok-1', payload: { secret: 'reset-link' }, redactOnSuccess: true }));
    await db.useCase((tx) => enqueueJob(tx, { kind: 'k.ok', key: 'ok-2', payload: { secret: 'kept' } }));
    const done = await until(
      () => jobsByKeys(db.reader(), ['ok-1', 'ok-2']),
      (s) => s.every((j) => j.status === 'SENT'),
    );
    expect(done.map((j) => j.status)).toEqual(['SENT', 'SENT']);
    expect(seen.sort()).toEqual(['ok-1:reset-link:1', 'ok-2:kept:1']);
    expect(await payloadOf('ok-1')).toBeNull();
    expect(await payloadOf('ok-2')).toEqual({ secret: 'kept' });
    expect((await stateOf('ok-1'))?.finishedAt).toBeInstanceOf(Date);
  });

  it('retries a failing job with backoff, then succeeds', async () => {
    let calls = 0;
    const delays: number[] = [];
    const w = worker({
      handlers: {
        'k.flaky': async () => {
          calls++;
          if (calls < 3) throw new Error(`transient ${calls}`);
        },
      },
      log,
      backoff: (attempt) => {
        delays.push(attempt);
        return 30;
      },
    });
    await db.useCase((tx) => enqueueJob(tx, { kind: 'k.flaky', key: 'flaky-1', payload: {} }));
    const state = await until(
      () => stateOf('flaky-1'),
      (s) => s?.status === 'SENT',
    );
    expect(state).toMatchObject({ status: 'SENT', attempts: 3, lastError: null });
    expect(delays).toEqual([1, 2]);
    await w.runDue();
    expect(calls).toBe(3);
  });

  it('marks a job DEAD after maxAttempts, and at once on a PermanentJobError; SKIPPED on a SkipJobError', async () => {
    let tries = 0;
    worker({
      handlers: {
        'k.always': async () => {
          tries++;
          throw new Error('still down');
        },
        'k.permanent': async () => {
          throw new PermanentJobError('550 no such mailbox');
        },
        'k.skip': async () => {
          throw new SkipJobError('no verified address');
        },
      },
      log,
      maxAttempts: 3,
      backoff: () => 10,
    });
    await db.useCase(async (tx) => {
      await enqueueJob(tx, { kind: 'k.always', key: 'dead-1', payload: { secret: 's' }, redactOnSuccess: true });
      await enqueueJob(tx, { kind: 'k.permanent', key: 'dead-2', payload: {} });
      await enqueueJob(tx, { kind: 'k.skip', key: 'skip-1', payload: {} });
    });
    const states = await until(
      () => jobsByKeys(db.reader(), ['dead-1', 'dead-2', 'skip-1']),
      (s) => s.every((j) => ['DEAD', 'SKIPPED'].includes(j.status)),
    );
    const byKey = Object.fromEntries(states.map((s) => [s.key, s]));
    expect(byKey['dead-1']).toMatchObject({ status: 'DEAD', attempts: 3, lastError: 'still down' });
    expect(tries).toBe(3);
    expect(byKey['dead-2']).toMatchObject({ status: 'DEAD', attempts: 1, lastError: '550 no such mailbox' });
    expect(byKey['skip-1']).toMatchObject({ status: 'SKIPPED', attempts: 1, lastError: 'no verified address' });
    // A dead job's secret is cleared as well.
    expect(await payloadOf('dead-1')).toBeNull();
    // Counted for /metrics, by kind and outcome.
    const counted = (await processMetrics().jobAttempts.get()).values;
    const of = (kind: string, outcome: string) => counted.find((v) => v.labels.kind === kind && v.labels.outcome === outcome)?.value;
    expect([of('k.always', 'retried'), of('k.always', 'dead'), of('k.permanent', 'dead'), of('k.skip', 'skipped')]).toEqual([2, 1, 1, 1]);
  });

  it('waits for runAt', async () => {
    let ranAt = 0;
    worker({ handlers: { 'k.later': async () => void (ranAt = Date.now()) }, log });
    const start = Date.now();
    await db.useCase((tx) => enqueueJob(tx, { kind: 'k.later', key: 'later-1', payload: {}, runAt: new Date(start + 300) }));
    await until(
      () => stateOf('later-1'),
      (s) => s?.status === 'SENT',
    );
    expect(ranAt - start).toBeGreaterThanOrEqual(290);
  });

  it('never runs one job twice when two workers (two replicas) claim at once (FOR UPDATE SKIP LOCKED)', async () => {
    const db2 = openPersistence(orm, { source: 'jobstest' });
    const runs = new Map<string, number>();
    const handler = async (_payload: unknown, job: { key: string }) => {
      runs.set(job.key, (runs.get(job.key) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 2));
    };
    const a = startJobWorker(db2, { handlers: { 'k.storm': handler }, log, pollMs: 60_000, batchSize: 3 });
    const b = startJobWorker(db2, { handlers: { 'k.storm': handler }, log, pollMs: 60_000, batchSize: 3 });
    workers.push(a, b);
    // Enqueued through the first Persistence: neither worker is woken, both are driven by hand.
    await db.useCase(async (tx) => {
      for (let i = 0; i < 60; i++) await enqueueJob(tx, { kind: 'k.storm', key: `storm-${i}`, payload: {} });
    });
    const counts = await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
    await until(
      async () => runs.size,
      (n) => n === 60,
    );
    expect(runs.size).toBe(60);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(counts.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(60);
    const states = await jobsByKeys(
      db.reader(),
      Array.from({ length: 60 }, (_, i) => `storm-${i}`),
    );
    expect(states.every((s) => s.status === 'SENT' && s.attempts === 1)).toBe(true);
  });

  it('claims again a job whose worker died while running it, once its lease ended', async () => {
    let calls = 0;
    const w = worker({ handlers: { 'k.lease': async () => void calls++ }, log, leaseMs: 200 });
    await w.stop();
    await db.useCase((tx) => enqueueJob(tx, { kind: 'k.lease', key: 'lease-1', payload: {} }));
    // A worker that died mid-job: RUNNING with a lease.
    await db.useCase(async (tx) => {
      const { exec } = await import('@vibestream/platform');
      await exec(tx, sql`update jobs set status = 'RUNNING', attempts = 1, locked_until = now() + interval '150 milliseconds' where key = 'lease-1'`);
    });
    const w2 = worker({ handlers: { 'k.lease': async () => void calls++ }, log });
    expect(await w2.runDue()).toBe(0);
    // The worker looks again when the lease ends, with no wake-up.
    const state = await until(
      () => stateOf('lease-1'),
      (s) => s?.status === 'SENT',
    );
    expect(state).toMatchObject({ status: 'SENT', attempts: 2 });
    expect(calls).toBe(1);
  });

  it('refuses a key that is empty or too long', async () => {
    await expect(db.useCase((tx) => enqueueJob(tx, { kind: 'k', key: '', payload: {} }))).rejects.toThrow(/key/);
    await expect(db.useCase((tx) => enqueueJob(tx, { kind: 'k', key: 'x'.repeat(301), payload: {} }))).rejects.toThrow(/key/);
  });
});
