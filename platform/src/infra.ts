import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { createRedis } from './redis.ts';
import { type LiveEvents, MemoryLiveEvents, RedisLiveEvents } from './live.ts';
import { MemorySessionRevocations, RedisSessionRevocations, type SessionRevocations } from './session-revocations.ts';
import { MemoryTransport } from './events/memory-transport.ts';
import { RedisStreamsTransport } from './events/redis-transport.ts';
import type { EventTransport } from './events/transport.ts';
import { MemoryCacheInvalidations, RedisCacheInvalidations, type CacheInvalidations } from './cache/invalidations.ts';

/** The messaging a process uses: Redis when REDIS_URL is set, in-process otherwise. */
export interface Infra {
  redis: Redis | null;
  prefix: string;
  transport: EventTransport;
  live: LiveEvents;
  /** Signed-out sessions, which every token verifier of the process refuses. */
  revocations: SessionRevocations;
  /** Purges of the gateway's entity cache: what subgraphs changed. */
  cacheInvalidations: CacheInvalidations;
  close(): Promise<void>;
}

export function createInfra(options: { redisUrl?: string | undefined; prefix: string; log: Logger }): Infra {
  if (!options.redisUrl) {
    const live = new MemoryLiveEvents();
    const transport = new MemoryTransport(options.log);
    const revocations = new MemorySessionRevocations();
    const cacheInvalidations = new MemoryCacheInvalidations();
    return {
      redis: null,
      prefix: options.prefix,
      transport,
      live,
      revocations,
      cacheInvalidations,
      close: async () => {
        await transport.close();
        await live.close();
        await revocations.close();
        await cacheInvalidations.close();
      },
    };
  }
  const redis = createRedis(options.redisUrl);
  redis.on('error', (error: Error) => options.log.warn({ err: error.message }, 'redis connection error'));
  const transport = new RedisStreamsTransport(redis, options.prefix, options.log);
  const live = new RedisLiveEvents(redis, options.prefix, options.log);
  const revocations = new RedisSessionRevocations(redis, options.prefix, options.log);
  const cacheInvalidations = new RedisCacheInvalidations(redis, options.prefix, options.log);
  return {
    redis,
    prefix: options.prefix,
    transport,
    live,
    revocations,
    cacheInvalidations,
    close: async () => {
      await transport.close();
      await live.close();
      await revocations.close();
      await cacheInvalidations.close();
      redis.disconnect();
    },
  };
}
