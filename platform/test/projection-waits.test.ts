import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryLiveEvents, ProjectionWaits, RedisLiveEvents, createLogger, createRedis, defineEvent, type LiveEvents } from '@vibestream/platform';
import { TEST_REDIS_URL } from '@vibestream/testkit';

const log = createLogger('projection-waits-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Shelved = defineEvent('test.book.shelved.v1', z.object({ bookId: z.string() }));
const closing: { close(): Promise<void> }[] = [];

afterAll(async () => {
  for (const c of closing.reverse()) await c.close();
});

/** A projection table of one replica's view: the lookup counts how often it is asked. */
function projection() {
  const known = new Set<string>();
  const asked: string[] = [];
  return {
    known,
    asked,
    lookup: (id: string) => async () => {
      asked.push(id);
      return known.has(id) ? { id } : undefined;
    },
  };
}

function waits(live: LiveEvents, timeoutMs = 2_000) {
  const w = new ProjectionWaits({ group: 'library', timeoutMs, live, log });
  closing.push(w);
  return w;
}

describe('ProjectionWaits', () => {
  it('answers at once what the projection has, without waiting', async () => {
    const books = projection();
    books.known.add('known');
    const started = Date.now();
    expect(await waits(new MemoryLiveEvents()).find(Shelved, 'known', books.lookup('known'))).toEqual({ id: 'known' });
    expect(Date.now() - started).toBeLessThan(50);
    expect(books.asked).toEqual(['known']);
  });

  it('waits for the commit that projects the object, woken by it rather than by polling', async () => {
    const books = projection();
    const w = waits(new MemoryLiveEvents());
    const answer = w.find(Shelved, 'late', books.lookup('late'));
    await new Promise((r) => setTimeout(r, 300));
    // Looked once, and once more after it began listening; nothing since.
    expect(books.asked).toEqual(['late', 'late']);
    books.known.add('late');
    const committedAt = Date.now();
    w.committed(Shelved.type, 'late');
    expect(await answer).toEqual({ id: 'late' });
    expect(Date.now() - committedAt).toBeLessThan(50);
    expect(books.asked).toHaveLength(3);
  });

  it('is not woken by the commit of another object or another event type', async () => {
    const books = projection();
    const w = waits(new MemoryLiveEvents(), 400);
    const answer = w.find(Shelved, 'never', books.lookup('never'));
    await new Promise((r) => setTimeout(r, 50));
    w.committed(Shelved.type, 'other');
    w.committed('test.book.lent.v1', 'never');
    const started = Date.now();
    expect(await answer).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThan(250);
    // The last look, at the deadline, is the only one after the first two.
    expect(books.asked).toEqual(['never', 'never', 'never']);
  });

  it('gives up after its bound and answers with a last look; 0 never waits', async () => {
    const books = projection();
    const started = Date.now();
    expect(await waits(new MemoryLiveEvents(), 200).find(Shelved, 'missing', books.lookup('missing'))).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    const noWait = Date.now();
    expect(await waits(new MemoryLiveEvents(), 0).find(Shelved, 'missing', books.lookup('missing'))).toBeUndefined();
    expect(Date.now() - noWait).toBeLessThan(50);
  });

  it("is woken by another replica's commit through Redis pub/sub", async () => {
    const prefix = `test:projection:${randomBytes(4).toString('hex')}:`;
    const replicas = [0, 1].map(() => {
      const redis = createRedis(TEST_REDIS_URL);
      const live = new RedisLiveEvents(redis, prefix, log);
      closing.push({ close: async () => void redis.disconnect() }, live);
      return waits(live);
    });
    const books = projection();
    const answer = replicas[0]!.find(Shelved, 'elsewhere', books.lookup('elsewhere'));
    await new Promise((r) => setTimeout(r, 200));
    books.known.add('elsewhere');
    const committedAt = Date.now();
    replicas[1]!.committed(Shelved.type, 'elsewhere');
    expect(await answer).toEqual({ id: 'elsewhere' });
    expect(Date.now() - committedAt).toBeLessThan(100);
  });
});
