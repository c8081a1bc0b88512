import type { LiveEvents } from '../live.ts';
import type { Logger } from '../logger.ts';
import type { EventContract } from './contract.ts';

/** Requests waiting at once past which a lookup answers without waiting (each wait holds a request). */
const maxWaiters = 10_000;

/** The live-events topic on which a context's consumer announces each commit of a keyed handler: `{ type, key }`. */
export const projectionTopic = (group: string) => `projected:${group}`;

export interface ProjectionWaitsOptions {
  /** The consumer group whose projections these are (the subgraph's name). */
  group: string;
  /** How long a lookup waits for its projection; 0 never waits. */
  timeoutMs: number;
  /** Carries commit signals between the replicas of the context (Redis pub/sub, or in-process). */
  live: LiveEvents;
  log: Logger;
}

/**
 * Read-your-writes across contexts. A context that learns objects from other contexts' events
 * (a song from catalog.song.published.v1) can be asked about one a moment before its consumer
 * has projected it, by a client that was just told it exists. `find` then waits, bounded, for that
 * projection's commit before the caller answers NOT_FOUND. The consumer runner signals each commit
 * of a handler that names its key (`on(contract, handle, { key })`): here at once, and in the
 * context's other replicas through live events, so a wait is woken by the commit, not by polling.
 */
export class ProjectionWaits {
  private readonly options: ProjectionWaitsOptions;
  private readonly topic: string;
  private readonly waiters = new Map<string, Set<() => void>>();
  private waiting = 0;
  private subscription: Promise<() => Promise<void>> | null = null;

  constructor(options: ProjectionWaitsOptions) {
    this.options = options;
    this.topic = projectionTopic(options.group);
  }

  /**
   * What `lookup` finds; when it finds nothing, looks again after each commit of a `contract` event
   * with this key, for up to the timeout. Undefined when the projection still does not have it.
   */
  async find<T>(contract: EventContract, key: string, lookup: () => Promise<T | undefined>): Promise<T | undefined> {
    const found = await lookup();
    if (found !== undefined || this.options.timeoutMs <= 0 || this.waiting >= maxWaiters) return found;
    await this.listen();
    const deadline = Date.now() + this.options.timeoutMs;
    for (;;) {
      // Registered before looking again, so a commit between the two is not missed.
      const commit = this.nextCommit(signalKey(contract.type, key), deadline - Date.now());
      const again = await lookup();
      if (again !== undefined) {
        commit.cancel();
        return again;
      }
      if (!(await commit.happened)) return lookup();
    }
  }

  /** Called by the consumer runner after a handler's transaction committed. */
  committed(type: string, key: string): void {
    this.wake(signalKey(type, key));
    this.options.live.publish(this.topic, { type, key }).catch((error: unknown) => this.options.log.warn({ err: error }, 'projection signal not sent'));
  }

  async close(): Promise<void> {
    const unsubscribe = await this.subscription?.catch(() => null);
    await unsubscribe?.();
  }

  /** Subscribes to the other replicas' commit signals when the first lookup waits. */
  private async listen(): Promise<void> {
    this.subscription ??= this.options.live.subscribe(this.topic, (signal) => {
      if (typeof signal.type === 'string' && typeof signal.key === 'string') this.wake(signalKey(signal.type, signal.key));
    });
    await this.subscription;
  }

  private nextCommit(key: string, timeoutMs: number): { happened: Promise<boolean>; cancel(): void } {
    let done!: (committed: boolean) => void;
    const happened = new Promise<boolean>((resolve) => (done = resolve));
    const waiters = this.waiters.get(key) ?? new Set();
    this.waiters.set(key, waiters);
    this.waiting++;
    const finish = (committed: boolean) => {
      clearTimeout(timer);
      if (!waiters.delete(wake)) return;
      this.waiting--;
      if (waiters.size === 0 && this.waiters.get(key) === waiters) this.waiters.delete(key);
      done(committed);
    };
    const wake = () => finish(true);
    const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
    waiters.add(wake);
    return { happened, cancel: () => finish(false) };
  }

  private wake(key: string): void {
    for (const wake of [...(this.waiters.get(key) ?? [])]) wake();
  }
}

function signalKey(type: string, key: string): string {
  return `${type}\n${key}`;
}
