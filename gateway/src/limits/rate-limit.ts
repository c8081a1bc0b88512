import type { ServerResponse } from 'node:http';
import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { ErrorCode, type Redis } from '@vibestream/platform';

/**
 * Request rate limits per user (the verified principal's id) and per client address, in
 * fixed windows: a key's window opens with its first request and lasts `windowSeconds`;
 * the `limit + 1`th request inside it is refused until the window closes, and the answer
 * says how long that is. Every replica shares the counters through Redis; without Redis
 * (one process, `npm start` with no REDIS_URL) they live in memory.
 *
 * Each check is one atomic Lua script per key (INCR, set the expiry on the first hit, read
 * the remaining time), so concurrent requests across replicas never lose a count and a key
 * never lives without an expiry. Keys are checked separately (no multi-key script), so a
 * Redis cluster is fine. Refused requests count too: a client that keeps hammering stays
 * refused until the window ends, then starts afresh.
 *
 * When Redis is unreachable the limiter fails open (allows) and reports the error through
 * `onError`: rate limiting protects the graph, it must not take it down with Redis.
 */
export interface WindowLimit {
  /** Requests allowed per window; 0 turns this limit off. */
  limit: number;
  windowSeconds: number;
}

export interface RequestLimiterOptions {
  /** null: in-memory counters (one process only). */
  redis: Redis | null;
  /** Key prefix (REDIS_PREFIX); the limiter adds `ratelimit:req:`. */
  prefix: string;
  /** Applies to requests with a verified principal. */
  perUser?: WindowLimit | null;
  /** Applies to every request, signed in or not. */
  perAddress?: WindowLimit | null;
  /** Redis failures (the request is allowed). */
  onError?: (error: unknown) => void;
}

export interface RequestIdentity {
  userId?: string | null;
  address?: string | null;
}

export type RateLimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; scope: 'user' | 'address' };

export interface RequestLimiter {
  check(identity: RequestIdentity): Promise<RateLimitVerdict>;
}

/** Counts one hit on a key; answers the count in the current window and the milliseconds it has left. */
interface Counter {
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
}

export function createRequestLimiter(options: RequestLimiterOptions): RequestLimiter {
  const prefix = `${options.prefix}ratelimit:req:`;
  const counter: Counter = options.redis ? new RedisCounter(options.redis) : new MemoryCounter();
  const rules: Array<{ scope: 'user' | 'address'; window: WindowLimit; id: (identity: RequestIdentity) => string | null | undefined }> = [];
  if (options.perUser && options.perUser.limit > 0) rules.push({ scope: 'user', window: options.perUser, id: (i) => i.userId });
  if (options.perAddress && options.perAddress.limit > 0) rules.push({ scope: 'address', window: options.perAddress, id: (i) => i.address });

  return {
    async check(identity) {
      const applicable = rules.flatMap((rule) => {
        const id = rule.id(identity);
        return id ? [{ ...rule, key: `${prefix}${rule.scope}:${id}` }] : [];
      });
      if (applicable.length === 0) return { allowed: true };
      let results: Array<{ count: number; ttlMs: number }>;
      try {
        results = await Promise.all(applicable.map((rule) => counter.hit(rule.key, Math.max(1, Math.round(rule.window.windowSeconds * 1000)))));
      } catch (error) {
        options.onError?.(error);
        return { allowed: true };
      }
      let refused: { retryAfterSeconds: number; scope: 'user' | 'address' } | undefined;
      applicable.forEach((rule, i) => {
        const { count, ttlMs } = results[i]!;
        if (count <= rule.window.limit) return;
        const retryAfterSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
        if (!refused || retryAfterSeconds > refused.retryAfterSeconds) refused = { retryAfterSeconds, scope: rule.scope };
      });
      return refused ? { allowed: false, ...refused } : { allowed: true };
    },
  };
}

const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'end' || redis.status === 'close') return Promise.reject(new Error(`redis is ${redis.status}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis is ${redis.status}`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

class RedisCounter implements Counter {
  private readonly redis: Redis;
  private sha: string | undefined;

  constructor(redis: Redis) {
    this.redis = redis;
  }

  async hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }> {
    // A client still connecting gets a moment; one that is down fails fast instead of queueing.
    if (this.redis.status !== 'ready') await waitUntilReady(this.redis, 1_000);
    let reply: unknown;
    try {
      this.sha ??= (await this.redis.script('LOAD', HIT_SCRIPT)) as string;
      reply = await this.redis.evalsha(this.sha, 1, key, windowMs);
    } catch (error) {
      // After a restart or SCRIPT FLUSH the script is gone: load it again with EVAL.
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      this.sha = undefined;
      reply = await this.redis.eval(HIT_SCRIPT, 1, key, windowMs);
    }
    const [count, ttlMs] = reply as [number, number];
    return { count: Number(count), ttlMs: Number(ttlMs) };
  }
}

class MemoryCounter implements Counter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();
  private nextSweep = 0;

  async hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }> {
    const now = Date.now();
    this.sweep(now);
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { count: 0, endsAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count++;
    return { count: window.count, ttlMs: window.endsAt - now };
  }

  /** Drops closed windows now and then, so one-off addresses do not pile up. */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 10_000;
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }
}

/** The `Retry-After` header value (whole seconds, at least 1). */
export function retryAfterHeader(retryAfterSeconds: number): string {
  return String(Math.max(1, Math.ceil(retryAfterSeconds)));
}

export function rateLimitMessage(retryAfterSeconds: number): string {
  const seconds = Number(retryAfterHeader(retryAfterSeconds));
  return `Too many requests: rate limit reached, try again in ${seconds} second${seconds === 1 ? '' : 's'}`;
}

/**
 * RATE_LIMITED with `extensions.retryAfterSeconds`, for graphql-ws (an `error` message) or a
 * resolver. Pass `{ http: true }` when thrown inside Apollo Server's pipeline (a plugin): it
 * then answers HTTP 429 with a `Retry-After` header.
 */
export function rateLimitedError(retryAfterSeconds: number, options: { http?: boolean } = {}): GraphQLError {
  const seconds = Number(retryAfterHeader(retryAfterSeconds));
  const extensions: Record<string, unknown> = { code: ErrorCode.RATE_LIMITED, retryAfterSeconds: seconds };
  if (options.http) {
    // Apollo Server takes the status and headers from extensions.http and strips it from the answer.
    extensions.http = { status: 429, headers: new HeaderMap([['retry-after', String(seconds)]]) };
  }
  return new GraphQLError(rateLimitMessage(seconds), { extensions });
}

/** Answers a plain node:http request with 429, `Retry-After` and a RATE_LIMITED GraphQL error body. */
export function sendRateLimited(res: ServerResponse, retryAfterSeconds: number): void {
  const seconds = Number(retryAfterHeader(retryAfterSeconds));
  const body = JSON.stringify({ errors: [{ message: rateLimitMessage(seconds), extensions: { code: ErrorCode.RATE_LIMITED, retryAfterSeconds: seconds } }] });
  res.writeHead(429, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'retry-after': String(seconds),
  });
  res.end(body);
}
