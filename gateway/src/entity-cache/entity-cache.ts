import { createHash } from 'node:crypto';
import type { CacheInvalidations, CacheTag, Logger, SharedEntries } from '@vibestream/platform';
import { MemoryEntries } from './memory-entries.ts';

/** What a subgraph's `Cache-Control` allows for an answer. */
export interface CachePolicy {
  maxAgeSeconds: number;
  scope: 'PUBLIC' | 'PRIVATE';
}

/** `max-age=N, public|private` as Apollo Server's cache-control plugin writes it; null for anything else (`no-store`, absent, max-age=0). */
export function parseCacheControl(header: string | undefined): CachePolicy | null {
  if (!header) return null;
  let maxAge: number | null = null;
  let scope: CachePolicy['scope'] = 'PUBLIC';
  for (const part of header.split(',')) {
    const directive = part.trim().toLowerCase();
    if (directive === 'no-store' || directive === 'no-cache') return null;
    if (directive === 'private') scope = 'PRIVATE';
    const match = /^max-age=(\d+)$/.exec(directive);
    if (match) maxAge = Number(match[1]);
  }
  return maxAge && maxAge > 0 ? { maxAgeSeconds: maxAge, scope } : null;
}

/** A stable short key for what identifies an answer (subgraph, query, variables, representation). */
export function answerKey(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('base64url');
}

export interface EntityCacheCounts {
  hit(where: 'memory' | 'shared', subgraph: string): void;
  miss(subgraph: string): void;
  stored(subgraph: string): void;
  purged(entries: number): void;
}

export interface EntityCacheOptions {
  maxBytes: number;
  /** Longest an entry is kept, whatever the subgraph allows. */
  maxTtlSeconds: number;
  /** Entries shared by replicas (Redis); none keeps the cache in this process only. */
  shared: SharedEntries | null;
  invalidations: CacheInvalidations;
  log: Logger;
  counts?: EntityCacheCounts;
  /** Told of every purge this replica hears (the fetcher's in-flight merging starts afresh). */
  changes?: ChangeClock;
}

/**
 * Counts the changes this gateway replica has seen (a mutation it relayed, a purge it heard). An
 * identical query already in flight is joined only if it started after the last change: a read
 * that follows a write never shares a fetch sent before the write.
 */
export class ChangeClock {
  private count = 0;

  get now(): number {
    return this.count;
  }

  changed(): void {
    this.count++;
  }
}

/**
 * The gateway's entity cache: answers of subgraphs (a root query's, or one entity's of an
 * `_entities` fetch) by a key the data source computes, in this replica's memory and, with Redis,
 * shared by replicas. Purged by tag when a subgraph reports a change (CacheInvalidations) or
 * names one in an answer (`invalidatedTags`).
 *
 * Redis is an accelerator, never a source of truth: when it fails, this replica stops reading
 * shared entries for the longest time an entry can live (a purge it may have missed cannot
 * outlive that), and answers from memory or the subgraphs meanwhile.
 */
export class EntityCache {
  private readonly memory: MemoryEntries;
  private readonly shared: SharedEntries | null;
  private readonly options: EntityCacheOptions;
  private sharedPausedUntil = 0;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(options: EntityCacheOptions) {
    this.options = options;
    this.shared = options.shared;
    this.memory = new MemoryEntries({ maxBytes: options.maxBytes, purgeMemoryMs: 10 * 60_000 });
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.options.invalidations.subscribe((tags) => this.purgeLocal(tags));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.memory.clear();
  }

  /** A reading to pass to store(): answers fetched since are not stored if a purge came after it. */
  clock(): number {
    return this.memory.clock();
  }

  get maxTtlMs(): number {
    return this.options.maxTtlSeconds * 1000;
  }

  /** For each item, the value of its first candidate key found (memory first, then shared in one round trip). */
  async lookup(subgraph: string, items: readonly (readonly string[])[]): Promise<(string | undefined)[]> {
    const since = this.clock();
    const found: (string | undefined)[] = items.map((candidates) => {
      for (const key of candidates) {
        const value = this.memory.get(key);
        if (value !== undefined) {
          this.options.counts?.hit('memory', subgraph);
          return value;
        }
      }
      return undefined;
    });
    const wanted = items.flatMap((candidates, i) => (found[i] === undefined ? candidates.map((key) => ({ i, key })) : []));
    if (wanted.length > 0 && this.sharedUsable()) {
      try {
        const values = await this.shared!.get(wanted.map((w) => w.key));
        values.forEach((raw, j) => {
          const { i, key } = wanted[j]!;
          if (raw === null || found[i] !== undefined) return;
          const entry = decodeShared(raw);
          if (!entry || entry.expiresAt <= Date.now()) return;
          found[i] = entry.value;
          this.options.counts?.hit('shared', subgraph);
          this.memory.set(key, entry.value, Math.min(entry.expiresAt - Date.now(), this.maxTtlMs), entry.tags, since);
        });
      } catch (error) {
        this.pauseShared(error);
      }
    }
    for (const value of found) if (value === undefined) this.options.counts?.miss(subgraph);
    return found;
  }

  async store(
    subgraph: string,
    entries: readonly { key: string; value: string; maxAgeSeconds: number; tags: readonly CacheTag[] }[],
    since: number,
  ): Promise<void> {
    const toShare: { key: string; value: string; ttlMs: number; tags: readonly CacheTag[] }[] = [];
    for (const entry of entries) {
      const ttlMs = Math.min(entry.maxAgeSeconds, this.options.maxTtlSeconds) * 1000;
      if (!this.memory.set(entry.key, entry.value, ttlMs, entry.tags, since)) continue;
      this.options.counts?.stored(subgraph);
      toShare.push({ key: entry.key, value: entry.value, ttlMs, tags: entry.tags });
    }
    if (toShare.length === 0 || !this.sharedUsable()) return;
    // Shared in the background, in one burst of commands: the answer does not wait for Redis.
    const fetchMs = this.clock() - since;
    const shared = this.shared!;
    Promise.all(
      toShare.map((entry) => shared.set(entry.key, encodeShared(Date.now() + entry.ttlMs, entry.tags, entry.value), entry.ttlMs, entry.tags, fetchMs)),
    ).catch((error: unknown) => this.pauseShared(error));
  }

  /** Drops this replica's entries under `tags` (the shared ones were purged by whoever changed them). */
  purgeLocal(tags: readonly CacheTag[]): void {
    const removed = this.memory.purge(tags);
    this.options.changes?.changed();
    this.options.counts?.purged(removed);
  }

  private sharedUsable(): boolean {
    return this.shared !== null && Date.now() >= this.sharedPausedUntil;
  }

  private pauseShared(error: unknown): void {
    if (Date.now() >= this.sharedPausedUntil) {
      this.options.log.warn(
        { err: (error as Error)?.message, seconds: this.options.maxTtlSeconds },
        'shared entity cache unavailable: answering from memory and the subgraphs until entries it may hold have expired',
      );
    }
    this.sharedPausedUntil = Date.now() + this.maxTtlMs;
  }
}

// `<expiresAt epoch ms>\0<tags space-separated>\0<value>`
function encodeShared(expiresAt: number, tags: readonly CacheTag[], value: string): string {
  return `${expiresAt}\u0000${tags.join(' ')}\u0000${value}`;
}

function decodeShared(raw: string): { expiresAt: number; tags: CacheTag[]; value: string } | null {
  const first = raw.indexOf('\u0000');
  const second = first < 0 ? -1 : raw.indexOf('\u0000', first + 1);
  if (second < 0) return null;
  const expiresAt = Number(raw.slice(0, first));
  if (!Number.isFinite(expiresAt)) return null;
  const tags = raw.slice(first + 1, second);
  return { expiresAt, tags: tags ? tags.split(' ') : [], value: raw.slice(second + 1) };
}
