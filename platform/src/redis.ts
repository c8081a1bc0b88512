import { Redis, type RedisOptions } from 'ioredis';

export { Redis };

/** A Redis client that gives up on a command quickly while the server is down, instead of queueing forever. */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    lazyConnect: false,
    ...options,
  });
}
