import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { EventEnvelope, PoisonEventError } from './contract.ts';
import {
  defaultRetryPolicy,
  retryDelay,
  type ConsumerSpec,
  type DeadLetter,
  type EventTransport,
  type RetryPolicy,
  type RunningConsumer,
} from './transport.ts';

type StreamEntry = [id: string, fields: string[]];

/**
 * Redis Streams transport: one stream per event type, one consumer group per consuming
 * context. A failed event stays pending and is claimed again after an exponential backoff
 * computed from its delivery count; past the limit it moves to the type's dead-letter stream.
 */
export class RedisStreamsTransport implements EventTransport {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly maxLength: number;

  constructor(redis: Redis, prefix: string, log: Logger, maxLength = 1_000_000) {
    this.redis = redis;
    this.prefix = prefix;
    this.log = log;
    this.maxLength = maxLength;
  }

  streamKey(type: string): string {
    return `${this.prefix}events:${type}`;
  }

  deadLetterKey(type: string): string {
    return `${this.prefix}events-dead:${type}`;
  }

  async append(envelope: EventEnvelope): Promise<void> {
    await this.redis.xadd(this.streamKey(envelope.type), 'MAXLEN', '~', String(this.maxLength), '*', 'event', JSON.stringify(envelope));
  }

  async appendAll(envelopes: readonly EventEnvelope[]): Promise<void> {
    if (envelopes.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const envelope of envelopes)
      pipeline.xadd(this.streamKey(envelope.type), 'MAXLEN', '~', String(this.maxLength), '*', 'event', JSON.stringify(envelope));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  consume(spec: ConsumerSpec): RunningConsumer {
    const conn = this.redis.duplicate();
    conn.on('error', (error: Error) => this.log.warn({ err: error.message, group: spec.group }, 'event consumer connection error'));
    const consumer = new RedisConsumer(this, conn, spec, this.log);
    this.consumers.add(consumer);
    consumer.start();
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.stop();
      },
    };
  }

  async deadLetters(type: string): Promise<DeadLetter[]> {
    const entries = (await this.redis.xrange(this.deadLetterKey(type), '-', '+')) as StreamEntry[];
    return entries.map(([, fields]) => JSON.parse(fieldValue(fields, 'letter') ?? '{}') as DeadLetter);
  }

  async deadLetter(type: string, letter: DeadLetter): Promise<void> {
    await this.redis.xadd(this.deadLetterKey(type), '*', 'letter', JSON.stringify(letter));
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.consumers.clear();
  }
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

class RedisConsumer {
  private readonly transport: RedisStreamsTransport;
  private readonly conn: Redis;
  private readonly spec: ConsumerSpec;
  private readonly log: Logger;
  private readonly policy: RetryPolicy;
  private readonly name = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly streams: string[];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(transport: RedisStreamsTransport, conn: Redis, spec: ConsumerSpec, log: Logger) {
    this.transport = transport;
    this.conn = conn;
    this.spec = spec;
    this.log = log.child({ group: spec.group });
    this.policy = { ...defaultRetryPolicy, ...spec.retry };
    this.streams = spec.types.map((t) => transport.streamKey(t));
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.conn.disconnect();
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    let ready = false;
    while (!this.stopped) {
      try {
        if (!ready) {
          await this.ensureGroups();
          ready = true;
        }
        await this.retryPending();
        const blockMs = Math.max(50, Math.min(1_000, this.policy.backoffMs));
        const result = (await this.conn.xreadgroup(
          'GROUP',
          this.spec.group,
          this.name,
          'COUNT',
          100,
          'BLOCK',
          blockMs,
          'STREAMS',
          ...this.streams,
          ...this.streams.map(() => '>'),
        )) as [string, StreamEntry[]][] | null;
        for (const [stream, entries] of result ?? []) {
          for (const [id, fields] of entries) await this.process(stream, id, fields, 1);
        }
      } catch (error) {
        if (this.stopped) return;
        // A Redis that restarted without its data lost the group with the stream: create both again.
        if (String((error as Error).message).includes('NOGROUP')) ready = false;
        this.log.warn({ err: error }, 'event consumer loop failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async ensureGroups(): Promise<void> {
    for (const stream of this.streams) {
      try {
        // Start at the beginning so events published before this group existed are not missed.
        await this.conn.xgroup('CREATE', stream, this.spec.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
      }
    }
  }

  /** Claims pending events whose backoff has elapsed, from this or any dead consumer. */
  private async retryPending(): Promise<void> {
    for (const stream of this.streams) {
      const pending = (await this.conn.xpending(stream, this.spec.group, 'IDLE', this.policy.backoffMs, '-', '+', 50)) as [string, string, number, number][];
      for (const [id, , idleMs, deliveries] of pending) {
        if (idleMs < retryDelay(this.policy, deliveries)) continue;
        const claimed = (await this.conn.xclaim(stream, this.spec.group, this.name, idleMs, id)) as StreamEntry[];
        for (const [claimedId, fields] of claimed) {
          if (!fields) continue;
          await this.process(stream, claimedId, fields, deliveries + 1);
        }
      }
    }
  }

  private async process(stream: string, id: string, fields: string[], delivery: number): Promise<void> {
    const raw = fieldValue(fields, 'event');
    let envelope: EventEnvelope | null = null;
    try {
      const parsed = EventEnvelope.safeParse(JSON.parse(raw ?? 'null'));
      if (!parsed.success) throw new PoisonEventError(`malformed envelope: ${parsed.error.message}`);
      envelope = parsed.data;
      await this.spec.handle(envelope);
      await this.conn.xack(stream, this.spec.group, id);
    } catch (error) {
      const poison = error instanceof PoisonEventError || error instanceof SyntaxError;
      if (poison || delivery >= this.policy.maxAttempts) {
        this.log.error({ err: error, streamId: id, eventId: envelope?.id, delivery }, 'event dead-lettered');
        const type = envelope?.type ?? stream.slice(stream.lastIndexOf(':') + 1);
        await this.transport.deadLetter(type, { envelope: envelope ?? raw, group: this.spec.group, error: String((error as Error).message) });
        await this.conn.xack(stream, this.spec.group, id);
        return;
      }
      this.log.warn({ err: error, streamId: id, eventId: envelope?.id, delivery }, 'event handler failed; will retry after backoff');
    }
  }
}
