import { createServer, type Server, type Socket, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  MemoryTransport,
  OutboxRelay,
  RedisStreamsTransport,
  createLogger,
  createRedis,
  defineEvent,
  newEnvelope,
  on,
  openDatabase,
  openPersistence,
  sqlMigration,
  startConsumer,
  type EventTransport,
  type MikroORM,
} from '@vibestream/platform';
import { TEST_REDIS_URL, createTestDatabase, eventually, type TestDatabase } from '@vibestream/testkit';

const log = createLogger('events-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Tipped = defineEvent('test.tip.sent.v1', z.object({ tipId: z.string(), cents: z.number().int().positive() }));

let db: TestDatabase;
let orm: MikroORM;

beforeAll(async () => {
  db = await createTestDatabase('events');
  orm = await openDatabase({
    url: db.url,
    schema: 'eventstest',
    entities: [],
    migrations: [sqlMigration('0001_effects', 'create table effects (tip_id text primary key, applied int not null default 1);')],
    log,
  });
});

afterAll(async () => {
  await orm?.close();
  await db?.drop();
});

const prefix = () => `test:events:${randomBytes(4).toString('hex')}:`;

/** Applies each tip to the effects table; counts how often the handler body ran. */
function tipConsumer(transport: EventTransport, group: string, options: { failFirst?: number } = {}) {
  const calls: string[] = [];
  let failuresLeft = options.failFirst ?? 0;
  const consumer = startConsumer({
    orm,
    transport,
    group,
    log,
    retry: { backoffMs: 50, maxAttempts: 4, maxBackoffMs: 200 },
    handlers: [
      on(Tipped, async (em, payload) => {
        calls.push(payload.tipId);
        await em.execute(`insert into effects (tip_id) values (?) on conflict (tip_id) do update set applied = effects.applied + 1`, [payload.tipId]);
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error('transient failure');
        }
      }),
    ],
  });
  return { consumer, calls };
}

async function applied(tipId: string): Promise<number> {
  const rows = (await orm.em.fork().execute(`select applied from effects where tip_id = ?`, [tipId])) as { applied: number }[];
  return rows[0]?.applied ?? 0;
}

async function unpublished(): Promise<number> {
  const rows = (await orm.em.fork().execute(`select count(*)::int as n from outbox_events where published_at is null`)) as { n: number }[];
  return rows[0]!.n;
}

async function writeTip(tipId: string, rollback = false): Promise<void> {
  await openPersistence(orm, { source: 'test' })
    .useCase(async (tx) => {
      tx.outbox.record(Tipped, { tipId, cents: 100 });
      if (rollback) throw new Error('rolled back on purpose');
    })
    .catch((error: Error) => {
      if (!rollback) throw error;
      expect(error.message).toBe('rolled back on purpose');
    });
}

describe('transactional outbox and Redis Streams', () => {
  it('never delivers an event whose transaction rolled back, and delivers the committed one', async () => {
    const redis = createRedis(TEST_REDIS_URL);
    const transport = new RedisStreamsTransport(redis, prefix(), log);
    const { consumer, calls } = tipConsumer(transport, 'rollback-group');
    const relay = new OutboxRelay(orm, transport, log, { intervalMs: 20 });
    relay.start();
    await writeTip('rolled-back', true);
    await writeTip('committed');
    await eventually(
      () => applied('committed'),
      (n) => n === 1,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual(['committed']);
    expect(await applied('rolled-back')).toBe(0);
    expect(await unpublished()).toBe(0);
    await relay.stop();
    await consumer.stop();
    await transport.close();
    redis.disconnect();
  });

  it('redelivers an event whose consumer threw once, and it takes effect exactly once', async () => {
    const redis = createRedis(TEST_REDIS_URL);
    const transport = new RedisStreamsTransport(redis, prefix(), log);
    const { consumer, calls } = tipConsumer(transport, 'retry-group', { failFirst: 1 });
    const envelope = newEnvelope('test', Tipped.type, { tipId: 'flaky', cents: 5 });
    await transport.append(envelope);
    await eventually(
      () => applied('flaky'),
      (n) => n === 1,
    );
    expect(calls).toEqual(['flaky', 'flaky']);
    // A duplicate delivery of the same event (as after a relay crash) changes nothing.
    await transport.append(envelope);
    await new Promise((r) => setTimeout(r, 400));
    expect(await applied('flaky')).toBe(1);
    expect(calls).toEqual(['flaky', 'flaky']);
    await consumer.stop();
    await transport.close();
    redis.disconnect();
  });

  it('dead-letters a poison event after the retry limit, and one that breaks its contract at once', async () => {
    const redis = createRedis(TEST_REDIS_URL);
    const transport = new RedisStreamsTransport(redis, prefix(), log);
    const { consumer, calls } = tipConsumer(transport, 'poison-group', { failFirst: 100 });
    await transport.append(newEnvelope('test', Tipped.type, { tipId: 'poison', cents: 5 }));
    await transport.append(newEnvelope('test', Tipped.type, { tipId: 'bad', cents: -1 }));
    const letters = await eventually(
      () => transport.deadLetters(Tipped.type),
      (l) => l.length === 2,
      15_000,
    );
    expect(letters.map((l) => (l.envelope as { payload: { tipId: string } }).payload.tipId).sort()).toEqual(['bad', 'poison']);
    expect(calls.filter((c) => c === 'poison')).toHaveLength(4);
    expect(calls).not.toContain('bad');
    expect(await applied('poison')).toBe(0);
    await consumer.stop();
    await transport.close();
    redis.disconnect();
  });

  it('delivers outbox events written while Redis was down once Redis is back', async () => {
    const proxy = await startTcpProxy(6379);
    const redis = createRedis(`redis://127.0.0.1:${proxy.port}`, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    const transport = new RedisStreamsTransport(redis, prefix(), log);
    const { consumer } = tipConsumer(transport, 'outage-group');
    const relay = new OutboxRelay(orm, transport, log, { intervalMs: 20 });
    relay.start();
    await writeTip('before-outage');
    await eventually(
      () => applied('before-outage'),
      (n) => n === 1,
    );

    await proxy.down();
    await writeTip('during-outage-1');
    await writeTip('during-outage-2');
    await new Promise((r) => setTimeout(r, 500));
    expect(await applied('during-outage-1')).toBe(0);
    expect(await unpublished()).toBeGreaterThanOrEqual(2);

    await proxy.up();
    await eventually(
      async () => (await applied('during-outage-1')) + (await applied('during-outage-2')),
      (n) => n === 2,
      20_000,
    );
    expect(await applied('during-outage-1')).toBe(1);
    expect(await applied('during-outage-2')).toBe(1);
    expect(await eventually(unpublished, (n) => n === 0)).toBe(0);
    await relay.stop();
    await consumer.stop();
    await transport.close();
    redis.disconnect();
    await proxy.close();
  });
});

describe('in-process transport (no REDIS_URL)', () => {
  it('retries with backoff, applies once, and lets a late group read earlier events', async () => {
    const transport = new MemoryTransport(log);
    await transport.append(newEnvelope('test', Tipped.type, { tipId: 'mem-early', cents: 1 }));
    const { consumer, calls } = tipConsumer(transport, 'memory-group', { failFirst: 1 });
    await eventually(
      () => applied('mem-early'),
      (n) => n === 1,
    );
    expect(calls).toEqual(['mem-early', 'mem-early']);
    await consumer.stop();
    await transport.close();
  });
});

/** A TCP proxy to Redis that can be taken down and brought back on the same port. */
async function startTcpProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const down = async () => {
    await new Promise<void>((resolve) => {
      server!.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  };
  return {
    get port() {
      return port;
    },
    down,
    up: listen,
    close: down,
  };
}
