import type { Logger } from '../logger.ts';
import { PoisonEventError, type EventEnvelope } from './contract.ts';
import { defaultRetryPolicy, retryDelay, type ConsumerSpec, type DeadLetter, type EventTransport, type RunningConsumer } from './transport.ts';

const maxLogLength = 10_000;

/**
 * In-process event transport for a single-process run without Redis (`npm start` with no
 * REDIS_URL). Like a stream, each type keeps a log, so a group that subscribes later still
 * sees earlier events; retries back off and poison events are dead-lettered.
 */
export class MemoryTransport implements EventTransport {
  readonly kind = 'memory' as const;
  private readonly logs = new Map<string, EventEnvelope[]>();
  private readonly groups = new Set<MemoryGroup>();
  private readonly dead = new Map<string, DeadLetter[]>();
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
    for (const group of this.groups) if (group.spec.types.includes(envelope.type)) group.enqueue(envelope);
  }

  consume(spec: ConsumerSpec): RunningConsumer {
    const group = new MemoryGroup(spec, this.log, (letter, type) => {
      const list = this.dead.get(type) ?? [];
      list.push(letter);
      this.dead.set(type, list);
    });
    this.groups.add(group);
    for (const type of spec.types) for (const envelope of this.logs.get(type) ?? []) group.enqueue(envelope);
    return {
      stop: async () => {
        this.groups.delete(group);
        await group.stop();
      },
    };
  }

  async deadLetters(type: string): Promise<DeadLetter[]> {
    return this.dead.get(type) ?? [];
  }

  async close(): Promise<void> {
    await Promise.all([...this.groups].map((g) => g.stop()));
    this.groups.clear();
  }
}

class MemoryGroup {
  readonly spec: ConsumerSpec;
  private readonly queue: EventEnvelope[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private readonly policy;
  private readonly log: Logger;
  private readonly deadLetter: (letter: DeadLetter, type: string) => void;

  constructor(spec: ConsumerSpec, log: Logger, deadLetter: (letter: DeadLetter, type: string) => void) {
    this.spec = spec;
    this.log = log;
    this.deadLetter = deadLetter;
    this.policy = { ...defaultRetryPolicy, ...spec.retry };
  }

  enqueue(envelope: EventEnvelope): void {
    if (this.stopped) return;
    this.queue.push(envelope);
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.queue.length > 0) {
      const envelope = this.queue.shift()!;
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          await this.spec.handle(envelope);
          break;
        } catch (error) {
          const poison = error instanceof PoisonEventError;
          if (poison || attempt >= this.policy.maxAttempts) {
            this.log.error({ err: error, eventId: envelope.id, type: envelope.type, group: this.spec.group }, 'event dead-lettered');
            this.deadLetter({ envelope, group: this.spec.group, error: String((error as Error).message) }, envelope.type);
            break;
          }
          this.log.warn({ err: error, eventId: envelope.id, attempt }, 'event handler failed; will retry');
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            this.timer = setTimeout(resolve, retryDelay(this.policy, attempt));
          });
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running?.catch(() => undefined);
  }
}
