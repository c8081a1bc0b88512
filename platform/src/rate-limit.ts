import type { Redis } from 'ioredis';

/** Counts failures per key in a fixed window; a key over its limit is blocked until the window ends. */
export interface FailureLimiter {
  /** Seconds until the first blocked key frees up, or 0 when none is blocked. */
  blockedFor(keys: LimitKey[]): Promise<number>;
  recordFailure(keys: LimitKey[]): Promise<void>;
  reset(keys: LimitKey[]): Promise<void>;
}

export interface LimitKey {
  key: string;
  limit: number;
}

export function createFailureLimiter(redis: Redis | null, prefix: string, windowSeconds: number): FailureLimiter {
  return redis ? new RedisFailureLimiter(redis, `${prefix}ratelimit:`, windowSeconds) : new MemoryFailureLimiter(windowSeconds);
}

class RedisFailureLimiter implements FailureLimiter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly windowSeconds: number;

  constructor(redis: Redis, prefix: string, windowSeconds: number) {
    this.redis = redis;
    this.prefix = prefix;
    this.windowSeconds = windowSeconds;
  }

  async blockedFor(keys: LimitKey[]): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (const { key } of keys) pipeline.get(this.prefix + key).ttl(this.prefix + key);
    const results = (await pipeline.exec()) ?? [];
    let wait = 0;
    keys.forEach(({ limit }, i) => {
      const count = Number(results[i * 2]?.[1] ?? 0);
      const ttl = Number(results[i * 2 + 1]?.[1] ?? 0);
      if (count >= limit) wait = Math.max(wait, ttl > 0 ? ttl : this.windowSeconds);
    });
    return wait;
  }

  async recordFailure(keys: LimitKey[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    // NX keeps the window fixed from the first failure.
    for (const { key } of keys) pipeline.incr(this.prefix + key).expire(this.prefix + key, this.windowSeconds, 'NX');
    await pipeline.exec();
  }

  async reset(keys: LimitKey[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys.map(({ key }) => this.prefix + key));
  }
}

class MemoryFailureLimiter implements FailureLimiter {
  private readonly counts = new Map<string, { count: number; until: number }>();
  private readonly windowSeconds: number;

  constructor(windowSeconds: number) {
    this.windowSeconds = windowSeconds;
  }

  private entry(key: string) {
    const e = this.counts.get(key);
    if (e && e.until <= Date.now()) {
      this.counts.delete(key);
      return undefined;
    }
    return e;
  }

  async blockedFor(keys: LimitKey[]): Promise<number> {
    let wait = 0;
    for (const { key, limit } of keys) {
      const e = this.entry(key);
      if (e && e.count >= limit) wait = Math.max(wait, Math.ceil((e.until - Date.now()) / 1000));
    }
    return wait;
  }

  async recordFailure(keys: LimitKey[]): Promise<void> {
    for (const { key } of keys) {
      const e = this.entry(key) ?? { count: 0, until: Date.now() + this.windowSeconds * 1000 };
      e.count++;
      this.counts.set(key, e);
    }
  }

  async reset(keys: LimitKey[]): Promise<void> {
    for (const { key } of keys) this.counts.delete(key);
  }
}
