import type { EventEnvelope } from './contract.ts';

export interface RetryPolicy {
  /** Deliveries before an event is dead-lettered. */
  maxAttempts: number;
  /** First retry delay; doubles on each further attempt. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, backoffMs: 500, maxBackoffMs: 60_000 };

export function retryDelay(policy: RetryPolicy, deliveries: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, deliveries - 1));
}

export interface ConsumerSpec {
  /** Consumer group: one per consuming context; each event is delivered once per group. */
  group: string;
  types: string[];
  handle: (envelope: EventEnvelope) => Promise<void>;
  retry?: Partial<RetryPolicy>;
  /** Where the in-process bus keeps this group's dead letters, so they outlive the process as Redis's do. */
  deadLetters?: DeadLetterStore;
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

export interface DeadLetter {
  envelope: unknown;
  group: string;
  error: string;
}

/** A consumer group's durable dead letters (see deadLetterTable). */
export interface DeadLetterStore {
  add(type: string, letter: DeadLetter): Promise<void>;
  list(type: string): Promise<DeadLetter[]>;
}

/** Carries events from outbox relays to consumer groups. */
export interface EventTransport {
  readonly kind: 'redis' | 'memory';
  append(envelope: EventEnvelope): Promise<void>;
  /** Appends several events in order (one write to Redis). */
  appendAll(envelopes: readonly EventEnvelope[]): Promise<void>;
  consume(spec: ConsumerSpec): RunningConsumer;
  deadLetters(type: string): Promise<DeadLetter[]>;
  close(): Promise<void>;
  /**
   * Only on a transport that keeps nothing across a restart (the in-process bus): resolves once every
   * consumer group has handled or dead-lettered the event, so the relay can mark it delivered and
   * replay the others from its outbox at the next start.
   */
  settled?(id: string): Promise<void>;
  /** Says that every consumer group of the process has subscribed: `settled` counts on them from then on. */
  consumersStarted?(): void;
}
