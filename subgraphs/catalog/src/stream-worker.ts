import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { entityTag, type Logger, type Persistence } from '@vibestream/platform';
import { renditionsFor, retryDelaySeconds } from './domain/streaming.ts';
import * as store from './store.ts';
import type { StreamJob } from './store.ts';
import type { MediaStorage } from './storage/storage.ts';
import { transcode, UnusableSource } from './transcode.ts';

/** Attempts before a job that keeps failing (or keeps losing its worker) is FAILED. */
export const MAX_ATTEMPTS = 5;

export interface StreamWorkerOptions {
  db: Persistence;
  storage: MediaStorage;
  ffmpeg: string;
  log: Logger;
  /** How long a claim holds without a heartbeat; a dead worker's job is claimed again after it. */
  leaseSeconds: number;
  /** How often an idle worker looks for due jobs (it is also woken when this process enqueues one). */
  pollMs: number;
  /** Jobs run at once in this process. */
  concurrency: number;
}

/**
 * Transcoding workers, run in every catalog replica: each claims a due job (`FOR UPDATE SKIP
 * LOCKED`, so replicas never take the same one), heartbeats its lease while ffmpeg runs, writes the
 * attempt's files under `hls/<songId>/<attempt>/` and makes the job READY in one use case, which
 * also purges the song from the gateway's entity cache. A worker that dies stops heartbeating:
 * its lease lapses and any worker claims the job again as a new attempt (the old attempt can no
 * longer finish it). A source ffmpeg cannot decode fails at once with ffmpeg's reason; other
 * errors are retried with backoff up to MAX_ATTEMPTS.
 */
export class StreamWorker {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly o: StreamWorkerOptions;
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly controller = new AbortController();
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  private crashed = false;

  constructor(options: StreamWorkerOptions) {
    this.o = options;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < this.o.concurrency; i++) this.loops.push(this.loop());
  }

  /** A job was enqueued here: look now rather than at the next poll. */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Stops claiming, kills running ffmpeg processes and hands their jobs back at once. */
  async stop(): Promise<void> {
    this.running = false;
    this.controller.abort();
    this.wakeUp?.();
    await Promise.allSettled(this.loops);
  }

  /**
   * What a crash does, for tests of recovery: kills running ffmpeg processes and writes nothing,
   * so the jobs stay PROCESSING until their leases lapse.
   */
  async crash(): Promise<void> {
    this.crashed = true;
    await this.stop();
  }

  /** Claims and runs one due job; false when there was none. */
  async runOnce(): Promise<boolean> {
    const job = await this.o.db.useCase((tx) => store.claimStreamJob(tx, this.id, this.o.leaseSeconds));
    if (!job) return false;
    await this.process(job);
    return true;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let worked = false;
      try {
        worked = await this.runOnce();
      } catch (error) {
        if (this.running) this.o.log.warn({ err: error }, 'stream worker: claiming a job failed');
      }
      if (worked || !this.running) continue;
      if (this.pendingWake) {
        this.pendingWake = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
      this.pendingWake = false;
    }
  }

  private async process(job: StreamJob): Promise<void> {
    const { db, log } = this.o;
    const { songId, attempt } = job;
    if (attempt > MAX_ATTEMPTS) {
      const reason = `Transcoding did not finish in ${MAX_ATTEMPTS} attempts (last error: ${job.lastError ?? 'the worker stopped without reporting'})`;
      await this.fail(job, reason, true, reason);
      return;
    }
    // A lost lease (another worker took the job over) or a stop kills this attempt's ffmpeg.
    const attemptController = new AbortController();
    const onStop = () => attemptController.abort();
    this.controller.signal.addEventListener('abort', onStop);
    const heartbeat = setInterval(
      () => {
        db.useCase((tx) => store.heartbeatStreamJob(tx, songId, attempt, this.o.leaseSeconds))
          .then((held) => {
            if (!held) attemptController.abort();
          })
          .catch((error: unknown) => log.warn({ err: error, songId }, 'stream worker: heartbeat failed'));
      },
      Math.max(200, (this.o.leaseSeconds * 1000) / 3),
    );
    const workDir = await mkdtemp(join(tmpdir(), 'vs-transcode-'));
    const prefix = `hls/${songId}/${attempt}`;
    const uploaded: string[] = [];
    try {
      const source = join(workDir, 'source');
      await pipeline(await this.o.storage.read(job.sourceKey), createWriteStream(source), { signal: attemptController.signal });
      const key = await store.streamEncryptionKey(db.reader(), songId);
      if (!key) throw new Error('the job has no encryption key');
      const result = await transcode({
        ffmpeg: this.o.ffmpeg,
        source,
        workDir,
        rungs: renditionsFor(job.sourceBitrateKbps),
        key,
        signal: attemptController.signal,
      });
      for (const rendition of result.renditions) {
        for (const file of (await readdir(rendition.dir)).sort()) {
          const type = file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t';
          const key = `${prefix}/${rendition.kbps}/${file}`;
          uploaded.push(key);
          await this.o.storage.put(key, createReadStream(join(rendition.dir, file)), type);
        }
      }
      attemptController.signal.throwIfAborted();
      const finished = await db.useCase(async (tx) => {
        const done = await store.finishStreamJob(tx, {
          songId,
          attempt,
          outputPrefix: prefix,
          renditions: result.renditions.map((r) => ({ bitrateKbps: r.kbps, codec: 'aac' })),
          loudnessLufs: result.loudnessLufs,
          truePeakDbtp: result.truePeakDbtp,
          waveform: result.waveform,
        });
        if (done) tx.changed(entityTag('Song', songId));
        return done;
      });
      if (!finished) {
        log.warn({ songId, attempt }, 'stream worker: the job was taken over; this attempt is dropped');
        await this.removeFiles(uploaded);
      } else {
        log.info({ songId, attempt, renditions: result.renditions.map((r) => r.kbps) }, 'stream ready');
        // What earlier attempts of a dead worker uploaded (the same source gives the same file names) is not used: best effort away.
        for (let earlier = 1; earlier < attempt; earlier++) {
          await this.removeFiles(uploaded.map((key) => key.replace(`${prefix}/`, `hls/${songId}/${earlier}/`)));
        }
      }
    } catch (error) {
      if (this.crashed) return;
      if (this.controller.signal.aborted) {
        // Stopping: hand the job back so another replica (or this one after a restart) runs it now.
        await this.fail(job, 'the worker stopped', false, null, 0).catch(() => undefined);
      } else if (attemptController.signal.aborted) {
        log.warn({ songId, attempt }, 'stream worker: lease lost; this attempt is dropped');
      } else if (error instanceof UnusableSource) {
        await this.fail(job, error.message, true, error.message);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        log.warn({ err: error, songId, attempt }, 'stream worker: attempt failed');
        const terminal = attempt >= MAX_ATTEMPTS;
        await this.fail(job, message, terminal, terminal ? `Transcoding failed ${MAX_ATTEMPTS} times; last error: ${message}` : null);
      }
      await this.removeFiles(uploaded);
    } finally {
      clearInterval(heartbeat);
      this.controller.signal.removeEventListener('abort', onStop);
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async fail(job: StreamJob, error: string, terminal: boolean, reason: string | null, retryInSeconds = retryDelaySeconds(job.attempt)): Promise<void> {
    await this.o.db.useCase(async (tx) => {
      const done = await store.failStreamJob(tx, { songId: job.songId, attempt: job.attempt, error, terminal, reason, retryInSeconds });
      if (done && terminal) tx.changed(entityTag('Song', job.songId));
    });
    if (terminal) this.o.log.warn({ songId: job.songId, reason }, 'stream job failed');
  }

  /** Best effort: the files of an attempt that will not be used. */
  private async removeFiles(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.o.storage.remove(key).catch(() => undefined);
  }
}
