import type { CacheTag } from '@vibestream/platform';

interface Entry {
  value: string;
  expiresAt: number;
  tags: readonly CacheTag[];
  bytes: number;
}

/**
 * A replica's own entries: expiring, least recently used out first past `maxBytes`, filed by tag.
 * It remembers when each tag was last purged, so an answer fetched before a purge of one of its
 * tags is not stored after it (the fetch raced the change it would hide).
 */
export class MemoryEntries {
  private readonly entries = new Map<string, Entry>();
  private readonly byTag = new Map<CacheTag, Set<string>>();
  private readonly purgedAt = new Map<CacheTag, number>();
  private bytes = 0;
  private readonly maxBytes: number;
  /** How long a purge is remembered: longer than any fetch can take. */
  private readonly purgeMemoryMs: number;
  private readonly now: () => number;

  constructor(options: { maxBytes: number; purgeMemoryMs: number; now?: () => number }) {
    this.maxBytes = options.maxBytes;
    this.purgeMemoryMs = options.purgeMemoryMs;
    this.now = options.now ?? (() => performance.now());
  }

  clock(): number {
    return this.now();
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.delete(key, entry);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Whether a tag was purged at or after `since` (a clock() reading). */
  purgedSince(tags: readonly CacheTag[], since: number): boolean {
    for (const tag of tags) {
      const at = this.purgedAt.get(tag);
      if (at !== undefined && at >= since) return true;
    }
    return false;
  }

  /** Stores unless one of its tags was purged since the fetch started; answers whether it stored. */
  set(key: string, value: string, ttlMs: number, tags: readonly CacheTag[], fetchedSince: number): boolean {
    if (ttlMs <= 0 || this.purgedSince(tags, fetchedSince)) return false;
    const bytes = value.length * 2 + key.length * 2 + 64;
    if (bytes > this.maxBytes) return false;
    const previous = this.entries.get(key);
    if (previous) this.delete(key, previous);
    const entry: Entry = { value, expiresAt: this.now() + ttlMs, tags, bytes };
    this.entries.set(key, entry);
    this.bytes += bytes;
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
    for (const [oldestKey, oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(oldestKey, oldest);
    }
    return true;
  }

  purge(tags: readonly CacheTag[]): number {
    const at = this.now();
    let removed = 0;
    for (const tag of tags) {
      this.purgedAt.set(tag, at);
      const keys = this.byTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) {
        const entry = this.entries.get(key);
        if (entry) {
          this.delete(key, entry);
          removed++;
        }
      }
      this.byTag.delete(tag);
    }
    this.forgetOldPurges(at);
    return removed;
  }

  clear(): void {
    this.entries.clear();
    this.byTag.clear();
    this.bytes = 0;
  }

  private delete(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    for (const tag of entry.tags) {
      const keys = this.byTag.get(tag);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) this.byTag.delete(tag);
    }
  }

  private forgetOldPurges(now: number): void {
    if (this.purgedAt.size < 10_000) return;
    for (const [tag, at] of this.purgedAt) if (now - at > this.purgeMemoryMs) this.purgedAt.delete(tag);
  }
}
