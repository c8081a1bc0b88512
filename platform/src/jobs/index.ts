import { z } from 'zod';
import { detached } from '../detached.ts';
import type { Logger } from '../logger.ts';
import { processMetrics } from '../telemetry.ts';
import { afterCommit, exec, persistenceOf, rows, sql, type Persistence, type Session, type Tx } from '../persistence/index.ts';

/**
 * A durable job queue in a context's own schema (the kernel's, like the outbox): work that must
 * happen once a transaction commits and may fail for a while (sending an email, a push).
 *
 * - `enqueueJob(tx, …)` inside a use case or event handler: the job exists if and only if the
 *   transaction commits; a job's `key` is unique, so enqueueing the same key again (a redelivered
 *   event) adds nothing.
 * - `startJobWorker(db, …)` claims due jobs with `FOR UPDATE SKIP LOCKED` (replicas never claim
 *   the same job), runs their handler outside any transaction, and records the outcome: SENT;
 *   FAILED and retried after `backoff(attempts)`; DEAD after `maxAttempts` or at once on a
 *   `PermanentJobError`; SKIPPED on a `SkipJobError`. A claimed job holds a lease (`leaseMs`): a
 *   worker that died while running it leaves it to be claimed again once the lease ends.
 * - A commit that enqueued jobs wakes this process's workers of that context at once; a slow poll
 *   (`pollMs`) is the safety net for jobs other replicas enqueued.
 * - `retryJobsNow(tx, …)` makes retrying jobs due at once when what they wait for committed, and
 *   wakes the workers the same way.
 */

/** The statuses a job goes through. */
export const JobStatus = ['QUEUED', 'RUNNING', 'SENT', 'FAILED', 'DEAD', 'SKIPPED'] as const;
export type JobStatus = (typeof JobStatus)[number];

/** The `jobs` table: append it to a context's migrations in a new migration of its own. */
export const jobsMigrationSql = `
create table jobs (
  id bigserial primary key,
  kind text not null,
  key text not null unique,
  payload jsonb,
  redact_on_success boolean not null default false,
  status text not null default 'QUEUED' check (status in ('QUEUED', 'RUNNING', 'SENT', 'FAILED', 'DEAD', 'SKIPPED')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  locked_until timestamptz,
  last_error text,
  created_at timestamptz not null default now(),
  finished_at timestamptz
);
create index jobs_due on jobs (next_attempt_at) where status in ('QUEUED', 'FAILED', 'RUNNING');
`;

/** Thrown by a handler: the job can never succeed (a mail server's 5xx): DEAD at once, not retried. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

/** Thrown by a handler: the job has nothing to do (no verified address): SKIPPED, not retried; the message says why. */
export class SkipJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SkipJobError';
  }
}

export interface NewJob {
  kind: string;
  /** Unique per job (e.g. `<notificationId>:EMAIL`): a second job with the same key is not added. */
  key: string;
  payload: Record<string, unknown>;
  /** Not before this moment (default: now). */
  runAt?: Date;
  /** Clear the payload once the job is finished (sent, skipped or dead): secrets in it (a reset link) do not stay in the table. */
  redactOnSuccess?: boolean;
}

const MAX_KEY_LENGTH = 300;
const MAX_ERROR_LENGTH = 500;

/** A job a handler runs. */
export interface Job {
  id: string;
  kind: string;
  key: string;
  /** This attempt's number, from 1. */
  attempt: number;
  /** Set by the worker: whether a failure of this attempt makes the job DEAD (no retry follows). */
  lastAttempt?: boolean;
  createdAt: Date;
}

/** What a worker runs for one kind of job; a throw is a failed attempt (see PermanentJobError, SkipJobError). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler parses its own payload
export type JobHandler = (payload: any, job: Job) => Promise<void>;

/** The state of one job, as `jobsByKeys` reads it. */
export interface JobState {
  key: string;
  kind: string;
  status: JobStatus;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  finishedAt: Date | null;
}

const wakers = new WeakMap<Persistence, Set<(delayMs?: number) => void>>();

function wakeWorkersOf(db: Persistence, delayMs?: number): void {
  for (const wake of wakers.get(db) ?? []) wake(delayMs);
}

/**
 * Adds a job in the transaction of `tx`; answers false (and adds nothing) when a job with this key
 * already exists. Once the transaction committed, this process's workers of the context wake.
 */
export async function enqueueJob(tx: Tx, job: NewJob): Promise<boolean> {
  if (!job.kind || job.key.length === 0 || job.key.length > MAX_KEY_LENGTH)
    throw new Error(`a job needs a kind and a key of 1 to ${MAX_KEY_LENGTH} characters`);
  const runAt = job.runAt ?? null;
  const added = await rows(
    tx,
    z.object({ id: z.coerce.string() }),
    sql`insert into jobs (kind, key, payload, redact_on_success, next_attempt_at)
        values (${job.kind}, ${job.key}, ${JSON.stringify(job.payload)}::jsonb, ${job.redactOnSuccess ?? false}, coalesce(${runAt}::timestamptz, now()))
        on conflict (key) do nothing returning id`,
  );
  if (added.length === 0) return false;
  const db = persistenceOf(tx);
  const delayMs = runAt ? Math.max(0, runAt.getTime() - Date.now()) : 0;
  afterCommit(tx, () => wakeWorkersOf(db, delayMs));
  return true;
}

/**
 * Makes the context's retrying jobs of `kind` whose payload has `match.field` = `match.value`
 * (case-insensitive) due now rather than at their backoff, e.g. those waiting for something another
 * context's event brings (an email job for a user's address): in the transaction of `tx`, and once
 * it committed this process's workers of the context wake, as after `enqueueJob`. Answers how many.
 */
export async function retryJobsNow(tx: Tx, kind: string, match: { field: string; value: string }): Promise<number> {
  const changed = await exec(
    tx,
    sql`update jobs set next_attempt_at = now()
        where kind = ${kind} and status = 'FAILED' and next_attempt_at > now() and lower(payload ->> ${match.field}) = lower(${match.value})`,
  );
  if (changed > 0) {
    const db = persistenceOf(tx);
    afterCommit(tx, () => wakeWorkersOf(db));
  }
  return changed;
}

const JobStateRow = z.object({
  key: z.string(),
  kind: z.string(),
  status: z.enum(JobStatus),
  attempts: z.number(),
  last_error: z.string().nullable(),
  next_attempt_at: z.coerce.date(),
  created_at: z.coerce.date(),
  finished_at: z.coerce.date().nullable(),
});

/** The jobs with these keys (those that exist), e.g. a notification's deliveries. */
export async function jobsByKeys(db: Session, keys: readonly string[]): Promise<JobState[]> {
  if (keys.length === 0) return [];
  const found = await rows(
    db,
    JobStateRow,
    sql`select key, kind, status, attempts, last_error, next_attempt_at, created_at, finished_at from jobs where key = any(${[...keys]}::text[])`,
  );
  return found.map((r) => ({
    key: r.key,
    kind: r.kind,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  }));
}

export interface JobWorkerOptions {
  /** The handler of each kind this worker runs; it claims only these kinds. */
  handlers: Record<string, JobHandler>;
  log: Logger;
  /** Attempts before a job that keeps failing is DEAD. Default 5. */
  maxAttempts?: number;
  /** Milliseconds to wait after failed attempt number `attempt` (from 1). Default: 1 s doubling up to 5 min, with jitter. */
  backoff?: (attempt: number) => number;
  /** Milliseconds between two looks at the table when nothing woke the worker. Default 30,000. */
  pollMs?: number;
  /** Milliseconds a claimed job is held for its worker; after that another worker may claim it again. Default 300,000. */
  leaseMs?: number;
  /** Jobs claimed and run at once. Default 4. */
  batchSize?: number;
}

export interface JobWorker {
  /** Stops looking for jobs and waits for the running ones. */
  stop(): Promise<void>;
  /** Runs every job due now (claiming until none is left); answers how many ran. */
  runDue(): Promise<number>;
  /** Looks for due jobs at once (after a commit that enqueued some). */
  wake(): void;
}

export function defaultJobBackoff(attempt: number): number {
  const base = Math.min(1000 * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

const ClaimedRow = z.object({
  id: z.coerce.string(),
  kind: z.string(),
  key: z.string(),
  payload: z.unknown(),
  attempts: z.number(),
  created_at: z.coerce.date(),
});
const NextDueRow = z.object({ due: z.coerce.date().nullable() });

function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, MAX_ERROR_LENGTH);
}

/**
 * Runs the context's jobs of the kinds `handlers` names. Started by the subgraph's setup
 * (`background`), stopped on close.
 */
export function startJobWorker(db: Persistence, options: JobWorkerOptions): JobWorker {
  const { handlers, log } = options;
  const kinds = Object.keys(handlers);
  const maxAttempts = options.maxAttempts ?? 5;
  const backoff = options.backoff ?? defaultJobBackoff;
  const pollMs = options.pollMs ?? 30_000;
  const leaseMs = options.leaseMs ?? 300_000;
  const batchSize = options.batchSize ?? 4;
  const attempts = processMetrics().jobAttempts;

  let stopped = false;
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Infinity;

  async function claim(): Promise<z.output<typeof ClaimedRow>[]> {
    return db.useCase((tx) =>
      rows(
        tx,
        ClaimedRow,
        sql`update jobs set status = 'RUNNING', attempts = attempts + 1, locked_until = now() + make_interval(secs => ${leaseMs / 1000})
            where id in (
              select id from jobs
              where kind = any(${kinds}::text[])
                and ((status in ('QUEUED', 'FAILED') and next_attempt_at <= now()) or (status = 'RUNNING' and locked_until <= now()))
              order by next_attempt_at, id
              limit ${batchSize}
              for update skip locked)
            returning id, kind, key, payload, attempts, created_at`,
      ),
    );
  }

  async function finish(id: string, attempt: number, update: ReturnType<typeof sql>): Promise<void> {
    // `attempts` fences the update: a job whose lease ended and that another worker claimed again is not this attempt's any more.
    await db.useCase((tx) =>
      exec(tx, sql`update jobs set ${update}, locked_until = null where id = ${id}::bigint and status = 'RUNNING' and attempts = ${attempt}`),
    );
  }

  const clearPayload = sql`payload = case when redact_on_success then null else payload end`;

  async function runOne(job: z.output<typeof ClaimedRow>): Promise<void> {
    const handler = handlers[job.kind]!;
    const counted = (outcome: 'sent' | 'retried' | 'dead' | 'skipped') => attempts.inc({ kind: job.kind, outcome });
    const info: Job = { id: job.id, kind: job.kind, key: job.key, attempt: job.attempts, lastAttempt: job.attempts >= maxAttempts, createdAt: job.created_at };
    try {
      await handler(job.payload, info);
      await finish(job.id, job.attempts, sql`status = 'SENT', finished_at = now(), last_error = null, ${clearPayload}`);
      counted('sent');
      log.debug({ jobId: job.id, kind: job.kind, attempt: job.attempts }, 'job done');
    } catch (error) {
      const message = errorText(error);
      if (error instanceof SkipJobError) {
        await finish(job.id, job.attempts, sql`status = 'SKIPPED', finished_at = now(), last_error = ${message}, ${clearPayload}`);
        counted('skipped');
        log.info({ jobId: job.id, kind: job.kind, reason: message }, 'job skipped');
      } else if (error instanceof PermanentJobError || job.attempts >= maxAttempts) {
        await finish(job.id, job.attempts, sql`status = 'DEAD', finished_at = now(), last_error = ${message}, ${clearPayload}`);
        counted('dead');
        log.error({ jobId: job.id, kind: job.kind, attempt: job.attempts, error: message }, 'job dead');
      } else {
        const delayMs = Math.max(0, Math.round(backoff(job.attempts)));
        await finish(job.id, job.attempts, sql`status = 'FAILED', last_error = ${message}, next_attempt_at = now() + make_interval(secs => ${delayMs / 1000})`);
        counted('retried');
        log.warn({ jobId: job.id, kind: job.kind, attempt: job.attempts, retryInMs: delayMs, error: message }, 'job failed; retrying');
      }
    }
  }

  async function drain(): Promise<number> {
    let ran = 0;
    for (;;) {
      if (stopped) return ran;
      const claimed = await claim();
      if (claimed.length === 0) return ran;
      await Promise.all(claimed.map(runOne));
      ran += claimed.length;
    }
  }

  /** When the next job of these kinds falls due (a retry's backoff, a lease's end, a runAt). */
  async function nextDue(): Promise<Date | null> {
    const [next] = await rows(
      db.reader(),
      NextDueRow,
      sql`select min(case when status = 'RUNNING' then locked_until else next_attempt_at end) as due
          from jobs where kind = any(${kinds}::text[]) and status in ('QUEUED', 'FAILED', 'RUNNING')`,
    );
    return next?.due ?? null;
  }

  /** Looks again in `delayMs` (at most pollMs); `keepSooner`: unless a look is already set for sooner. */
  function schedule(delayMs: number, keepSooner = false): void {
    if (stopped) return;
    const wait = Math.min(Math.max(0, delayMs), pollMs);
    if (keepSooner && timer && timerAt <= Date.now() + wait) return;
    if (timer) clearTimeout(timer);
    timerAt = Date.now() + wait;
    timer = setTimeout(() => {
      timer = null;
      void runDue().catch((error: unknown) => log.error({ err: error }, 'job worker pass failed'));
    }, wait);
    timer.unref();
  }

  function runDue(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    const pass = detached(async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await drain();
        } while (again && !stopped);
        const due = stopped ? null : await nextDue();
        schedule(due ? due.getTime() - Date.now() + 5 : pollMs);
      } catch (error) {
        schedule(Math.min(pollMs, 5000));
        throw error;
      } finally {
        running = null;
      }
      return total;
    });
    running = pass;
    return pass;
  }

  const wake = (delayMs = 0) => {
    if (stopped) return;
    if (delayMs > 0) return schedule(delayMs, true);
    void runDue().catch((error: unknown) => log.error({ err: error }, 'job worker pass failed'));
  };

  let set = wakers.get(db);
  if (!set) wakers.set(db, (set = new Set()));
  set.add(wake);
  wake();

  return {
    runDue,
    wake: () => wake(),
    async stop() {
      stopped = true;
      set.delete(wake);
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
