import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { CacheTag } from './tags.ts';

export type InvalidationListener = (tags: readonly CacheTag[]) => void;

/**
 * How a change reaches the gateway's entity cache. A subgraph calls `invalidate` after the change
 * committed and before it answers: the shared entries (Redis) are gone when it resolves, and every
 * gateway replica is told to drop its own copies.
 */
export interface CacheInvalidations {
  invalidate(tags: readonly CacheTag[]): Promise<void>;
  /** A gateway replica's own (in-memory) entries are dropped by its listener. */
  subscribe(listener: InvalidationListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** One process (npm start's default): the gateway's cache is in memory and hears every change at once. */
export class MemoryCacheInvalidations implements CacheInvalidations {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async invalidate(tags: readonly CacheTag[]): Promise<void> {
    if (tags.length > 0) this.emitter.emit('tags', tags);
  }

  async subscribe(listener: InvalidationListener): Promise<() => Promise<void>> {
    this.emitter.on('tags', listener);
    return async () => void this.emitter.off('tags', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Entries shared by gateway replicas, in Redis: an entry under `<prefix>ec:e:<key>` with its TTL,
 * and per tag a set `<prefix>ec:t:<tag>` of the entry keys filed under it (it lives as long as its
 * longest entry). A purge deletes the tags' entries and sets in one script and notes when (Redis's
 * clock) under `<prefix>ec:p:<tag>`; an entry whose fetch took `fetchMs` is not stored when one of
 * its tags was purged within that long (it may hold what the purge removed).
 */
export class SharedEntries {
  readonly redis: Redis;
  private readonly entryPrefix: string;
  private readonly tagPrefix: string;
  private readonly purgedPrefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.entryPrefix = `${prefix}ec:e:`;
    this.tagPrefix = `${prefix}ec:t:`;
    this.purgedPrefix = `${prefix}ec:p:`;
  }

  async get(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.redis.mget(keys.map((k) => this.entryPrefix + k));
  }

  /** Stores unless a tag was purged in the last `fetchMs` (plus a margin); answers whether it stored. */
  async set(key: string, value: string, ttlMs: number, tags: readonly CacheTag[], fetchMs: number): Promise<boolean> {
    const stored = await this.redis.eval(
      SET_SCRIPT,
      1 + 2 * tags.length,
      this.entryPrefix + key,
      ...tags.map((t) => this.tagPrefix + t),
      ...tags.map((t) => this.purgedPrefix + t),
      value,
      String(ttlMs),
      String(Math.ceil(fetchMs) + PURGE_MARGIN_MS),
    );
    return stored === 1;
  }

  async purge(tags: readonly CacheTag[]): Promise<void> {
    if (tags.length === 0) return;
    await this.redis.eval(
      PURGE_SCRIPT,
      2 * tags.length,
      ...tags.map((t) => this.tagPrefix + t),
      ...tags.map((t) => this.purgedPrefix + t),
      String(PURGE_MEMORY_MS),
    );
  }
}

/** Transit between the gateway's clock reading and Redis, both ways. */
const PURGE_MARGIN_MS = 250;
/** How long a purge is remembered: longer than any fetch (SUBGRAPH_TIMEOUT_MS is at most a minute in practice). */
const PURGE_MEMORY_MS = 120_000;

// KEYS[1] the entry, then n tag sets, then the n tags' purge times; ARGV value, ttl ms, window ms.
const SET_SCRIPT = `
local n = (#KEYS - 1) / 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[3])
for i = 1, n do
  local purged = redis.call('GET', KEYS[1 + n + i])
  if purged and now - tonumber(purged) <= window then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 1, n do
  redis.call('SADD', KEYS[1 + i], KEYS[1])
  if redis.call('PTTL', KEYS[1 + i]) < ttl then redis.call('PEXPIRE', KEYS[1 + i], ttl) end
end
return 1`;

// KEYS n tag sets (members are full entry keys), then the n tags' purge times; ARGV[1] how long to remember.
const PURGE_SCRIPT = `
local n = #KEYS / 2
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, n do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('DEL', KEYS[i])
  redis.call('SET', KEYS[n + i], now, 'PX', ARGV[1])
end
return 1`;

/** Gateway replicas and subgraphs on Redis: the purge of shared entries, then a broadcast to every replica. */
export class RedisCacheInvalidations implements CacheInvalidations {
  private readonly shared: SharedEntries;
  private readonly sub: Redis;
  private readonly channel: string;
  private readonly local = new MemoryCacheInvalidations();
  private subscribed: Promise<unknown> | null = null;

  constructor(redis: Redis, prefix: string, log: Logger) {
    this.shared = new SharedEntries(redis, prefix);
    this.channel = `${prefix}ec:invalidate`;
    this.sub = redis.duplicate();
    this.sub.on('error', (error: Error) => log.warn({ err: error.message }, 'cache invalidation connection error'));
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const tags = JSON.parse(message) as unknown;
        if (Array.isArray(tags) && tags.every((t) => typeof t === 'string')) void this.local.invalidate(tags as string[]);
      } catch {
        log.warn({ channel }, 'dropped a malformed cache invalidation');
      }
    });
  }

  async invalidate(tags: readonly CacheTag[]): Promise<void> {
    if (tags.length === 0) return;
    await this.shared.purge(tags);
    await this.shared.redis.publish(this.channel, JSON.stringify(tags));
  }

  async subscribe(listener: InvalidationListener): Promise<() => Promise<void>> {
    this.subscribed ??= this.sub.subscribe(this.channel);
    await this.subscribed;
    return this.local.subscribe(listener);
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    await this.local.close();
  }
}
