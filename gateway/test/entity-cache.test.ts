import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseCacheControl } from '../src/entity-cache/entity-cache.ts';
import { MemoryEntries } from '../src/entity-cache/memory-entries.ts';

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('parseCacheControl', () => {
  it('reads what Apollo Server writes, and nothing else as cacheable', () => {
    expect(parseCacheControl('max-age=60, public')).toEqual({ maxAgeSeconds: 60, scope: 'PUBLIC' });
    expect(parseCacheControl('max-age=30, private')).toEqual({ maxAgeSeconds: 30, scope: 'PRIVATE' });
    expect(parseCacheControl('private, max-age=5')).toEqual({ maxAgeSeconds: 5, scope: 'PRIVATE' });
    for (const header of [undefined, '', 'no-store', 'max-age=0, public', 'max-age=60, no-store', 'public', 'max-age=abc', 'max-age=-1']) {
      expect(parseCacheControl(header)).toBeNull();
    }
  });
});

describe('MemoryEntries', () => {
  it('answers an entry until its TTL, then forgets it', () => {
    const c = clock();
    const entries = new MemoryEntries({ maxBytes: 1 << 20, purgeMemoryMs: 60_000, now: c.now });
    expect(entries.set('k', 'v', 1_000, ['Song:1'], c.now())).toBe(true);
    c.advance(999);
    expect(entries.get('k')).toBe('v');
    c.advance(1);
    expect(entries.get('k')).toBeUndefined();
    expect(entries.size).toBe(0);
  });

  it('purges every entry under a tag and only those', () => {
    const c = clock();
    const entries = new MemoryEntries({ maxBytes: 1 << 20, purgeMemoryMs: 60_000, now: c.now });
    entries.set('a', '1', 10_000, ['Song:1', 'Artist:9'], c.now());
    entries.set('b', '2', 10_000, ['Song:2', 'Artist:9'], c.now());
    entries.set('c', '3', 10_000, ['Song:3'], c.now());
    expect(entries.purge(['Artist:9'])).toBe(2);
    expect([entries.get('a'), entries.get('b'), entries.get('c')]).toEqual([undefined, undefined, '3']);
  });

  it('does not store what was fetched before a purge of one of its tags (the fetch raced the change)', () => {
    const c = clock();
    const entries = new MemoryEntries({ maxBytes: 1 << 20, purgeMemoryMs: 60_000, now: c.now });
    const fetchStarted = c.now();
    c.advance(5);
    entries.purge(['Song:1']);
    c.advance(5);
    expect(entries.set('k', 'stale', 10_000, ['Song:1'], fetchStarted)).toBe(false);
    expect(entries.get('k')).toBeUndefined();
    // A fetch that started after the purge is stored.
    expect(entries.set('k', 'fresh', 10_000, ['Song:1'], c.now())).toBe(true);
  });

  it('property: never holds more than maxBytes, and every entry it answers is the last value set under that key', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.string({ maxLength: 200 }), fc.constantFrom('T:1', 'T:2', 'T:3')), {
          maxLength: 200,
        }),
        (writes) => {
          const c = clock();
          const entries = new MemoryEntries({ maxBytes: 1_000, purgeMemoryMs: 60_000, now: c.now });
          const last = new Map<string, string>();
          for (const [key, value, tag] of writes) {
            c.advance(1);
            if (entries.set(key, value, 60_000, [tag], c.now())) last.set(key, value);
            else last.delete(key);
          }
          let bytes = 0;
          for (const key of last.keys()) {
            const value = entries.get(key);
            if (value === undefined) continue;
            expect(value).toBe(last.get(key));
            bytes += value.length * 2 + key.length * 2 + 64;
          }
          expect(bytes).toBeLessThanOrEqual(1_000);
        },
      ),
      { numRuns: 300 },
    );
  });
});
