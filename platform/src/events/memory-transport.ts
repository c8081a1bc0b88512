import { detached } from '../detached.ts';
import type { Logger } from '../logger.ts';
import { PoisonEventError, type EventEnvelope } from './contract.ts';
import {
  defaultRetryPolicy,
  retryDelay,
  type ConsumerSpec,
  type DeadLetter,
  type DeadLetterStore,
  type EventTransport,
  type RetryPolicy,
  type RunningConsumer,
} from './transport.ts';

const maxLogLength = 10_000;

/** An event some groups have yet to handle or dead-letter. */
interface Delivery {
  waiting: Set<string>;
  settled: Promise<void>;
  resolve: () => void;
}

/**
 * In-process event transport for a single-process run without Redis (`npm start` with no
 * REDIS_URL), with the semantics of the Redis Streams transport:
 * - each consumer group has its own delivery loop, started in the process's root async context,
 *   so a handler never runs inside its producer's or the relay's transaction or request;
 * - a failed event is retried after the same backoff without holding up the events behind it, and
 *   dead-lettered past the limit (at once when poison) into the group's store, which outlives the process;
 * - like a stream, each type keeps a log, so a group that subscribes later still sees earlier events.
 * It keeps nothing across a restart: `settled` tells the relay which events every group is done
 * with, and the relay replays the others from its outbox at the next start (consumers dedupe).
 */
export class MemoryTransport implements EventTransport {
  readonly kind = 'memory' as const;
  private readonly logs = new Map<string, EventEnvelope[]>();
  private readonly groups = new Set<MemoryGroup>();
  private readonly deliveries = new Map<string, Delivery>();
  /** Dead-letter stores by group; kept after a group stops, so its letters can still be listed. */
  private readonly stores = new Map<string, DeadLetterStore>();
  private consumersComplete = false;
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  async appendAll(envelopes: readonly EventEnvelope[]): Promise<void> {
    for (const envelope of envelopes) await this.append(envelope);
  }

  async append(envelope: EventEnvelope): Promise<void> {
    const log = this.logs.get(envelope.type) ?? [];
    log.push(envelope);
    if (log.length > maxLogLength) log.splice(0, log.length - maxLogLength);
    this.logs.set(envelope.type, log);
    const delivery = this.delivery(envelope.id);
    for (const group of this.groups) {
      if (!group.spec.types.includes(envelope.type)) continue;
      delivery.waiting.add(group.spec.group);
      group.enqueue(envelope);
    }
    this.settleIfDone(envelope.id, delivery);
  }

  consume(spec: ConsumerSpec): RunningConsumer {
    const store = spec.deadLetters ?? new MemoryDeadLetters();
    this.stores.set(spec.group, store);
    const group = new MemoryGroup(spec, store, this.log, (envelope) => this.handled(spec.group, envelope));
    this.groups.add(group);
    for (const type of spec.types) {
      for (const envelope of this.logs.get(type) ?? []) {
        this.deliveries.get(envelope.id)?.waiting.add(spec.group);
        group.enqueue(envelope);
      }
    }
    return {
      stop: async () => {
        this.groups.delete(group);
        await group.stop();
      },
    };
  }

  async deadLetters(type: string): Promise<DeadLetter[]> {
    const lists = await Promise.all([...this.stores.values()].map((store) => store.list(type)));
    return lists.flat();
  }

  settled(id: string): Promise<void> {
    return this.deliveries.get(id)?.settled ?? Promise.resolve();
  }

  consumersStarted(): void {
    this.consumersComplete = true;
    for (const [id, delivery] of this.deliveries) this.settleIfDone(id, delivery);
  }

  async close(): Promise<void> {
    await Promise.all([...this.groups].map((g) => g.stop()));
    this.groups.clear();
  }

  private delivery(id: string): Delivery {
    const known = this.deliveries.get(id);
    if (known) return known;
    let resolve!: () => void;
    const settled = new Promise<void>((r) => (resolve = r));
    const delivery = { waiting: new Set<string>(), settled, resolve };
    this.deliveries.set(id, delivery);
    return delivery;
  }

  private handled(group: string, envelope: EventEnvelope): void {
    const delivery = this.deliveries.get(envelope.id);
    if (!delivery) return;
    delivery.waiting.delete(group);
    this.settleIfDone(envelope.id, delivery);
  }

  /** Until every group has subscribed, a group still to come may want the event. */
  private settleIfDone(id: string, delivery: Delivery): void {
    if (!this.consumersComplete || delivery.waiting.size > 0) return;
    this.deliveries.delete(id);
    delivery.resolve();
  }
}

/** Dead letters of a group that was given no store: they last as long as the process. */
class MemoryDeadLetters implements DeadLetterStore {
  private readonly letters = new Map<string, DeadLetter[]>();

  async add(type: string, letter: DeadLetter): Promise<void> {
    this.letters.set(type, [...(this.letters.get(type) ?? []), letter]);
  }

  async list(type: string): Promise<DeadLetter[]> {
    return this.letters.get(type) ?? [];
  }
}

interface Retry {
  envelope: EventEnvelope;
  /** Deliveries so far. */
  deliveries: number;
  dueAt: number;
}

/** One consumer group: new events in order, failed ones again once their backoff has elapsed, one at a time. */
class MemoryGroup {
  readonly spec: ConsumerSpec;
  private readonly fresh: EventEnvelope[] = [];
  private readonly retries: Retry[] = [];
  private readonly policy: RetryPolicy;
  private readonly store: DeadLetterStore;
  private readonly log: Logger;
  private readonly onDone: (envelope: EventEnvelope) => void;
  private readonly loop: Promise<void>;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(spec: ConsumerSpec, store: DeadLetterStore, log: Logger, onDone: (envelope: EventEnvelope) => void) {
    this.spec = spec;
    this.store = store;
    this.log = log.child({ group: spec.group });
    this.onDone = onDone;
    this.policy = { ...defaultRetryPolicy, ...spec.retry };
    // Enqueueing only wakes this loop: an appender's async context never reaches a handler.
    this.loop = detached(() => this.run());
  }

  enqueue(envelope: EventEnvelope): void {
    if (this.stopped) return;
    this.fresh.push(envelope);
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const next = this.next();
      if (next) await this.deliver(next.envelope, next.delivery);
      else await this.idle();
    }
  }

  /** Retries whose backoff has elapsed come first, as the Redis consumer claims them before reading new events. */
  private next(): { envelope: EventEnvelope; delivery: number } | null {
    const now = Date.now();
    const due = this.retries.findIndex((r) => r.dueAt <= now);
    if (due >= 0) {
      const [retry] = this.retries.splice(due, 1);
      return { envelope: retry!.envelope, delivery: retry!.deliveries + 1 };
    }
    const envelope = this.fresh.shift();
    return envelope ? { envelope, delivery: 1 } : null;
  }

  private idle(): Promise<void> {
    const soonest = Math.min(...this.retries.map((r) => r.dueAt));
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(soonest) ? setTimeout(resolve, Math.max(0, soonest - Date.now())) : null;
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    }).finally(() => (this.wake = null));
  }

  private async deliver(envelope: EventEnvelope, delivery: number): Promise<void> {
    try {
      await this.spec.handle(envelope);
    } catch (error) {
      const poison = error instanceof PoisonEventError;
      if (!poison && delivery < this.policy.maxAttempts) {
        this.log.warn({ err: error, eventId: envelope.id, delivery }, 'event handler failed; will retry after backoff');
        this.retries.push({ envelope, deliveries: delivery, dueAt: Date.now() + retryDelay(this.policy, delivery) });
        return;
      }
      this.log.error({ err: error, eventId: envelope.id, type: envelope.type, delivery }, 'event dead-lettered');
      try {
        await this.store.add(envelope.type, { envelope, group: this.spec.group, error: String((error as Error).message) });
      } catch (storeError) {
        // As on Redis, an event whose dead letter could not be written stays pending and comes round again.
        this.log.error({ err: storeError, eventId: envelope.id }, 'could not record the dead letter; will retry');
        this.retries.push({ envelope, deliveries: delivery, dueAt: Date.now() + retryDelay(this.policy, delivery) });
        return;
      }
    }
    this.onDone(envelope);
  }
}
