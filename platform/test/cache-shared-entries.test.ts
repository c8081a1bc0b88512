// The entity cache's shared entries in Redis: stored and found by key, purged by tag, and never
// stored by a fetch that a purge of one of its tags overlapped (it may hold what the purge removed).
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '@vibestream/testkit';
import { SharedEntries, createRedis } from '../src/index.ts';

const redis = createRedis(TEST_REDIS_URL);
const entries = new SharedEntries(redis, `test:shared-entries:${randomBytes(4).toString('hex')}:`);
afterAll(() => redis.disconnect());

describe('shared entries', () => {
  it('stores with a TTL, finds by key, and purges every entry under a tag', async () => {
    expect(await entries.set('a', 'A', 60_000, ['Song:1', 'Artist:9'], 5)).toBe(true);
    expect(await entries.set('b', 'B', 60_000, ['Song:2', 'Artist:9'], 5)).toBe(true);
    expect(await entries.set('c', 'C', 60_000, ['Song:3'], 5)).toBe(true);
    expect(await entries.get(['a', 'b', 'c', 'missing'])).toEqual(['A', 'B', 'C', null]);
    await entries.purge(['Artist:9']);
    expect(await entries.get(['a', 'b', 'c'])).toEqual([null, null, 'C']);
  });

  it('refuses an entry whose fetch a purge of one of its tags overlapped, and takes one that started after', async () => {
    await entries.purge(['Song:7']);
    // A fetch that took 5 s ends now: the purge a moment ago happened while it ran.
    expect(await entries.set('stale', 'old', 60_000, ['Song:8', 'Song:7'], 5_000)).toBe(false);
    expect(await entries.get(['stale'])).toEqual([null]);
    await new Promise((resolve) => setTimeout(resolve, 400));
    // A fetch of 10 ms that ends now started well after the purge.
    expect(await entries.set('fresh', 'new', 60_000, ['Song:7'], 10)).toBe(true);
    expect(await entries.get(['fresh'])).toEqual(['new']);
  });
});
