import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

export type LiveListener = (payload: Record<string, unknown>) => void;

/**
 * Live events for GraphQL subscriptions. Subgraphs publish keys and the event's own scalars;
 * the gateway resolves the rest of each subscriber's selection through the supergraph.
 */
export interface LiveEvents {
  publish(topic: string, payload: Record<string, unknown>): Promise<void>;
  /** Publishes several events in order, in one write to Redis. */
  publishAll(events: readonly { topic: string; payload: Record<string, unknown> }[]): Promise<void>;
  subscribe(topic: string, listener: LiveListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export class MemoryLiveEvents implements LiveEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(topic: string, payload: Record<string, unknown>): Promise<void> {
    this.emitter.emit(topic, payload);
  }

  async publishAll(events: readonly { topic: string; payload: Record<string, unknown> }[]): Promise<void> {
    for (const event of events) this.emitter.emit(event.topic, event.payload);
  }

  async subscribe(topic: string, listener: LiveListener): Promise<() => Promise<void>> {
    this.emitter.on(topic, listener);
    return async () => void this.emitter.off(topic, listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** Redis pub/sub: every gateway replica receives every event and serves its own subscribers. */
export class RedisLiveEvents implements LiveEvents {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly local = new MemoryLiveEvents();
  private readonly counts = new Map<string, number>();
  private readonly log: Logger;

  constructor(redis: Redis, prefix: string, log: Logger) {
    this.pub = redis;
    this.sub = redis.duplicate();
    this.sub.on('error', (error: Error) => log.warn({ err: error.message }, 'live events connection error'));
    this.prefix = `${prefix}live:`;
    this.log = log;
    this.sub.on('message', (channel: string, message: string) => {
      try {
        void this.local.publish(channel.slice(this.prefix.length), JSON.parse(message) as Record<string, unknown>);
      } catch (error) {
        this.log.warn({ err: error, channel }, 'dropped malformed live event');
      }
    });
  }

  async publish(topic: string, payload: Record<string, unknown>): Promise<void> {
    await this.pub.publish(this.prefix + topic, JSON.stringify(payload));
  }

  async publishAll(events: readonly { topic: string; payload: Record<string, unknown> }[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.pub.pipeline();
    for (const event of events) pipeline.publish(this.prefix + event.topic, JSON.stringify(event.payload));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async subscribe(topic: string, listener: LiveListener): Promise<() => Promise<void>> {
    const count = this.counts.get(topic) ?? 0;
    this.counts.set(topic, count + 1);
    if (count === 0) await this.sub.subscribe(this.prefix + topic);
    const off = await this.local.subscribe(topic, listener);
    return async () => {
      await off();
      const left = (this.counts.get(topic) ?? 1) - 1;
      if (left > 0) this.counts.set(topic, left);
      else {
        this.counts.delete(topic);
        await this.sub.unsubscribe(this.prefix + topic);
      }
    };
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    await this.local.close();
  }
}
