import type { Redis } from 'ioredis';

/**
 * Counts failures per key in a fixed window; a key at its limit refuses attempts until its
 * window ends. An attempt reserves its failure before it is checked and releases it when it
 * succeeds, so however many attempts run at once, at most `limit` of them are checked.
 */
export interface FailureLimiter {
  /**
   * Atomically: refuses the attempt when any key is at its limit (counting nothing), else
   * counts it on every key. It stays counted as a failure unless released.
   */
  reserve(keys: LimitKey[]): Promise<Reservation>;
  reset(keys: LimitKey[]): Promise<void>;
}

export interface LimitKey {
  key: string;
  limit: number;
}

export type Reservation =
  { admitted: true; /** The attempt succeeded: it no longer counts as a failure. */ release(): Promise<void> } | { admitted: false; retryAfterSeconds: number };

export function createFailureLimiter(redis: Redis | null, prefix: string, windowSeconds: number): FailureLimiter {
  return redis ? new RedisFailureLimiter(redis, `${prefix}ratelimit:`, windowSeconds) : new MemoryFailureLimiter(windowSeconds);
}

/** One key's count in its fixed window, which starts at the key's first counted attempt. */
export interface FailureWindow {
  count: number;
  endsAt: number;
}

/**
 * The rule, on windows held in a map (the in-process backend; the Redis script does the same):
 * admitted when every key is under its limit, and then counted on every key. An admitted
 * attempt answers the windows it counted in, the only ones its release may take it back from.
 */
export function reserveAttempt(
  windows: Map<string, FailureWindow>,
  keys: readonly LimitKey[],
  now: number,
  windowMs: number,
): { admitted: true; counted: FailureWindow[] } | { admitted: false; retryAfterSeconds: number } {
  let wait = 0;
  for (const { key, limit } of keys) {
    const window = liveWindow(windows, key, now);
    if (window && window.count >= limit) wait = Math.max(wait, Math.ceil((window.endsAt - now) / 1000));
  }
  if (wait > 0) return { admitted: false, retryAfterSeconds: wait };
  const counted = keys.map(({ key }) => {
    const window = liveWindow(windows, key, now) ?? { count: 0, endsAt: now + windowMs };
    window.count++;
    windows.set(key, window);
    return window;
  });
  return { admitted: true, counted };
}

/** Takes a reserved attempt back from the windows it counted in (a window that has ended since is left alone: it is gone). */
export function releaseAttempt(counted: readonly FailureWindow[]): void {
  for (const window of counted) if (window.count > 0) window.count--;
}

function liveWindow(windows: Map<string, FailureWindow>, key: string, now: number): FailureWindow | undefined {
  const window = windows.get(key);
  if (window && window.endsAt <= now) {
    windows.delete(key);
    return undefined;
  }
  return window;
}

// KEYS: the counters; ARGV[1]: the window in seconds; ARGV[1 + i]: the limit of KEYS[i].
// Admitted: { 0, the end of each key's window (PEXPIRETIME, ms) }, counted on every key;
// refused: { seconds until the longest block ends }, counting nothing.
const RESERVE_SCRIPT = `
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl == -1 then ttl = window elseif ttl < 1 then ttl = 1 end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return { wait } end
local ends = { 0 }
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, window) end
  ends[i + 1] = redis.call('PEXPIRETIME', key)
end
return ends`;

// KEYS: the counters; ARGV[i]: the end of the window KEYS[i] was counted in. A window that
// ended (or was reset) since is a different one: nothing is taken from it.
const RELEASE_SCRIPT = `
for i, key in ipairs(KEYS) do
  if redis.call('PEXPIRETIME', key) == tonumber(ARGV[i]) and tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0`;

/** Shared by every replica: each reservation is one Lua script, atomic in Redis. */
class RedisFailureLimiter implements FailureLimiter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly windowSeconds: number;

  constructor(redis: Redis, prefix: string, windowSeconds: number) {
    this.redis = redis;
    this.prefix = prefix;
    this.windowSeconds = windowSeconds;
  }

  async reserve(keys: LimitKey[]): Promise<Reservation> {
    const names = keys.map(({ key }) => this.prefix + key);
    const [wait, ...ends] = (await this.redis.eval(RESERVE_SCRIPT, names.length, ...names, this.windowSeconds, ...keys.map((k) => k.limit))) as number[];
    if (wait! > 0) return { admitted: false, retryAfterSeconds: wait! };
    return { admitted: true, release: async () => void (await this.redis.eval(RELEASE_SCRIPT, names.length, ...names, ...ends)) };
  }

  async reset(keys: LimitKey[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys.map(({ key }) => this.prefix + key));
  }
}

/** One process's limits (without REDIS_URL): the same rule, atomic because it runs without awaiting. */
class MemoryFailureLimiter implements FailureLimiter {
  private readonly windows = new Map<string, FailureWindow>();
  private readonly windowMs: number;

  constructor(windowSeconds: number) {
    this.windowMs = windowSeconds * 1000;
  }

  async reserve(keys: LimitKey[]): Promise<Reservation> {
    if (this.windows.size > 10_000) this.forgetEnded();
    const verdict = reserveAttempt(this.windows, keys, Date.now(), this.windowMs);
    if (!verdict.admitted) return verdict;
    return { admitted: true, release: async () => releaseAttempt(verdict.counted) };
  }

  async reset(keys: LimitKey[]): Promise<void> {
    for (const { key } of keys) this.windows.delete(key);
  }

  private forgetEnded(): void {
    const now = Date.now();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }
}
