import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryLiveEvents, RedisLiveEvents, createLogger, createRedis, type LiveEvents } from '@vibestream/platform';
import { TEST_REDIS_URL } from '@vibestream/testkit';

const log = createLogger('live-test', 'silent');

async function exercise(live: LiveEvents, other: LiveEvents = live) {
  const received: unknown[] = [];
  const off = await live.subscribe('trades:song-1', (p) => received.push(p));
  await other.publish('trades:song-1', { tradeId: 't1' });
  await other.publish('trades:song-2', { tradeId: 'elsewhere' });
  await new Promise((r) => setTimeout(r, 100));
  await off();
  await other.publish('trades:song-1', { tradeId: 'after-unsubscribe' });
  await new Promise((r) => setTimeout(r, 100));
  return received;
}

describe('live events', () => {
  it('in-process: delivers a topic to its subscribers only, until they unsubscribe', async () => {
    expect(await exercise(new MemoryLiveEvents())).toEqual([{ tradeId: 't1' }]);
  });

  it('Redis pub/sub: an event published by one process reaches subscribers in another', async () => {
    const prefix = `test:live:${randomBytes(4).toString('hex')}:`;
    const a = createRedis(TEST_REDIS_URL);
    const b = createRedis(TEST_REDIS_URL);
    const subscriberSide = new RedisLiveEvents(a, prefix, log);
    const publisherSide = new RedisLiveEvents(b, prefix, log);
    expect(await exercise(subscriberSide, publisherSide)).toEqual([{ tradeId: 't1' }]);

    // publishAll: one pipeline, delivered in order, each to its own topic.
    const received: unknown[] = [];
    const offTrades = await subscriberSide.subscribe('trades:song-3', (p) => received.push(p));
    const offBook = await subscriberSide.subscribe('book:song-3', (p) => received.push(p));
    await publisherSide.publishAll([
      { topic: 'trades:song-3', payload: { n: 1 } },
      { topic: 'trades:song-3', payload: { n: 2 } },
      { topic: 'elsewhere', payload: { n: 0 } },
      { topic: 'book:song-3', payload: { n: 3 } },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await offTrades();
    await offBook();
    await subscriberSide.close();
    await publisherSide.close();
    a.disconnect();
    b.disconnect();
  });
});
