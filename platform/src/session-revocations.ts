import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/**
 * Sessions signed out before their access tokens expire. A session is one sign-in: the
 * refresh-token family its access tokens name as `sid`. Every token verifier asks on every
 * request, so the answer comes from a set in memory; revocations reach it by broadcast.
 */
export interface SessionRevocations {
  /** True when the session was revoked and an access token of it may still be unexpired. */
  isRevoked(sessionId: string): boolean;
  /**
   * Revokes the session in every process until `untilSeconds` (epoch seconds): the latest
   * expiry of any access token it was given. Rejects when the revocation could not be shared.
   */
  revoke(sessionId: string, untilSeconds: number): Promise<void>;
  /** Calls `listener` with each session revoked from now on, wherever it was revoked. */
  onRevoked(listener: (sessionId: string) => void): () => void;
  /** Resolves once the revocations made before this process started are known. */
  loaded(): Promise<void>;
  close(): Promise<void>;
}

/** How long a process waits at start for the revocations already made before it serves anyway. */
export const REVOCATIONS_LOAD_TIMEOUT_MS = 5_000;

/**
 * Waits, bounded, for the revocations made before this process started. When Redis does not
 * answer in time the process serves anyway (fail-open, logged as an error): until Redis answers,
 * an access token of a session revoked earlier is accepted, for at most its remaining lifetime.
 */
export async function waitForRevocations(revocations: SessionRevocations, log: Logger, timeoutMs = REVOCATIONS_LOAD_TIMEOUT_MS): Promise<boolean> {
  // Several subgraphs of one process share the revocations: only the first waits.
  if (gaveUp.has(revocations)) return false;
  let timer: NodeJS.Timeout | undefined;
  const loaded = await Promise.race([
    revocations.loaded().then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (!loaded) {
    gaveUp.add(revocations);
    log.error(
      { timeoutMs },
      'revoked sessions could not be loaded (Redis unreachable): access tokens of sessions signed out before this start are accepted until Redis answers',
    );
  }
  return loaded;
}

const gaveUp = new WeakSet<SessionRevocations>();

/** The set every verifier reads: session id to the moment its tokens have all expired. */
class RevokedSessionSet {
  private readonly until = new Map<string, number>();
  private readonly listeners = new Set<(sessionId: string) => void>();

  isRevoked(sessionId: string): boolean {
    const until = this.until.get(sessionId);
    return until !== undefined && until > Date.now() / 1000;
  }

  /** Records a revocation; tells the listeners when it is news. */
  learn(sessionId: string, untilSeconds: number): void {
    const wasRevoked = this.isRevoked(sessionId);
    if (untilSeconds > (this.until.get(sessionId) ?? 0)) this.until.set(sessionId, untilSeconds);
    if (!wasRevoked && this.isRevoked(sessionId)) for (const listener of this.listeners) listener(sessionId);
  }

  onRevoked(listener: (sessionId: string) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  forgetExpired(): void {
    const now = Date.now() / 1000;
    for (const [sessionId, until] of this.until) if (until <= now) this.until.delete(sessionId);
  }

  clear(): void {
    this.until.clear();
    this.listeners.clear();
  }
}

const SWEEP_INTERVAL_MS = 60_000;

/** One process (no REDIS_URL): every verifier in it shares this instance through the infra. */
export class MemorySessionRevocations implements SessionRevocations {
  private readonly set = new RevokedSessionSet();
  private readonly sweep = setInterval(() => this.set.forgetExpired(), SWEEP_INTERVAL_MS).unref();

  isRevoked(sessionId: string): boolean {
    return this.set.isRevoked(sessionId);
  }

  async revoke(sessionId: string, untilSeconds: number): Promise<void> {
    this.set.learn(sessionId, untilSeconds);
  }

  onRevoked(listener: (sessionId: string) => void): () => void {
    return this.set.onRevoked(listener);
  }

  async loaded(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.set.clear();
  }
}

/**
 * Every process and replica: revocations are kept in a sorted set (member: session id, score:
 * until) and announced on a pub/sub channel. Each process loads the set when its subscriber
 * connects (at start and after every reconnect, so a broadcast missed while disconnected is
 * caught up) and again every `resyncMs`.
 */
export class RedisSessionRevocations implements SessionRevocations {
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly key: string;
  private readonly channel: string;
  private readonly log: Logger;
  private readonly set = new RevokedSessionSet();
  private readonly resync: NodeJS.Timeout;
  private markLoaded!: () => void;
  private failing = false;
  private readonly firstLoad = new Promise<void>((resolve) => (this.markLoaded = resolve));

  constructor(redis: Redis, prefix: string, log: Logger, options: { resyncMs?: number } = {}) {
    this.redis = redis;
    this.key = `${prefix}revoked-sessions`;
    this.channel = `${prefix}session-revoked`;
    this.log = log;
    this.sub = redis.duplicate();
    this.sub.on('error', (error: Error) => log.warn({ err: error.message }, 'session revocations connection error'));
    this.sub.on('message', (_channel: string, message: string) => {
      const revocation = parseAnnouncement(message);
      if (revocation) this.set.learn(revocation.sessionId, revocation.untilSeconds);
      else log.warn({ message: message.slice(0, 100) }, 'dropped a malformed session revocation');
    });
    // Subscribing again is harmless, and replies in order on this connection: the load that
    // follows cannot miss an announcement made after the subscription is back.
    this.sub.on(
      'ready',
      () =>
        void this.sub.subscribe(this.channel).then(
          () => this.load(),
          () => undefined,
        ),
    );
    this.resync = setInterval(() => void this.load(), options.resyncMs ?? 30_000).unref();
  }

  isRevoked(sessionId: string): boolean {
    return this.set.isRevoked(sessionId);
  }

  /** Learned here only once recorded, so a failed revocation can be retried with the same token. */
  async revoke(sessionId: string, untilSeconds: number): Promise<void> {
    const results = await this.redis
      .multi()
      .zadd(this.key, 'GT', untilSeconds, sessionId)
      .zremrangebyscore(this.key, '-inf', Math.floor(Date.now() / 1000))
      .publish(this.channel, `${untilSeconds} ${sessionId}`)
      .exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('session revocation was not recorded');
    this.set.learn(sessionId, untilSeconds);
  }

  onRevoked(listener: (sessionId: string) => void): () => void {
    return this.set.onRevoked(listener);
  }

  loaded(): Promise<void> {
    return this.firstLoad;
  }

  async close(): Promise<void> {
    clearInterval(this.resync);
    this.sub.disconnect();
    this.set.clear();
  }

  private async load(): Promise<void> {
    try {
      const entries = await this.redis.zrangebyscore(this.key, Math.floor(Date.now() / 1000), '+inf', 'WITHSCORES');
      for (let i = 0; i + 1 < entries.length; i += 2) this.set.learn(entries[i]!, Number(entries[i + 1]));
      this.set.forgetExpired();
      this.markLoaded();
      if (this.failing) this.log.info({ sessions: entries.length / 2 }, 'revoked sessions loaded');
      this.failing = false;
    } catch (error) {
      this.failing = true;
      this.log.warn({ err: (error as Error).message }, 'revoked sessions could not be loaded; retrying');
    }
  }
}

/** An announcement is `<until seconds> <session id>`. */
function parseAnnouncement(message: string): { sessionId: string; untilSeconds: number } | null {
  const space = message.indexOf(' ');
  const untilSeconds = Number(message.slice(0, space));
  const sessionId = message.slice(space + 1);
  if (space < 1 || !Number.isFinite(untilSeconds) || !sessionId || sessionId.length > 200) return null;
  return { sessionId, untilSeconds };
}
