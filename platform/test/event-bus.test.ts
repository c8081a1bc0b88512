// One event semantics, whatever the transport: the same cases run on the in-process bus and on
// Redis Streams, with a producer and consumers in one process, each on its own ORM and schema
// (as `npm start` runs every context), so a consumer that ran in its producer's context would fail.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
  type RetryPolicy,
} from '@vibestream/platform';
import { TEST_REDIS_URL, createTestDatabase, eventually, type TestDatabase } from '@vibestream/testkit';

const log = createLogger('event-bus-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Noted = defineEvent('test.note.written.v1', z.object({ noteId: z.string(), fail: z.number().int().default(0) }));
const quickRetry: Partial<RetryPolicy> = { backoffMs: 40, maxAttempts: 3, maxBackoffMs: 200 };

let db: TestDatabase;
let consumerOrms: MikroORM[];
const producers: MikroORM[] = [];

beforeAll(async () => {
  db = await createTestDatabase('eventbus');
  consumerOrms = [];
  for (const schema of ['first', 'second']) {
    consumerOrms.push(
      await openDatabase({
        url: db.url,
        schema,
        entities: [],
        // Only the consumers have this table: a handler that ran on the producer's connection fails.
        migrations: [sqlMigration(`0001_${schema}_notes`, 'create table notes (group_name text, note_id text, primary key (group_name, note_id));')],
        log,
      }),
    );
  }
});

afterAll(async () => {
  for (const orm of [...producers, ...(consumerOrms ?? [])]) await orm.close();
  await db?.drop();
});

/** Each test's streams, which outlive its processes as the database does. */
let redisPrefix = '';

interface Bus {
  kind: 'memory' | 'redis';
  /** A transport as a fresh process opens it: each call is a restart. */
  open(): EventTransport;
}

const buses: Bus[] = [
  { kind: 'memory', open: () => new MemoryTransport(log) },
  {
    kind: 'redis',
    open() {
      const redis = createRedis(TEST_REDIS_URL);
      const transport = new RedisStreamsTransport(redis, redisPrefix, log);
      const close = transport.close.bind(transport);
      transport.close = async () => {
        await close();
        redis.disconnect();
      };
      return transport;
    },
  },
];

describe.each(buses)('$kind transport', (bus) => {
  let producer: MikroORM;
  const running: { stop(): Promise<void> }[] = [];
  const unique = (name: string) => `${bus.kind}-${name}-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    producer = await openDatabase({ url: db.url, schema: `producer_${bus.kind}`, entities: [], migrations: [], log });
    producers.push(producer);
  });

  beforeEach(async () => {
    redisPrefix = `test:eventbus:${randomBytes(4).toString('hex')}:`;
    await producer.em.fork().execute('delete from outbox_events');
  });

  afterEach(async () => {
    await stopAll();
  });

  async function stopAll(): Promise<void> {
    for (const r of running.reverse()) await r.stop();
    running.length = 0;
  }

  /** A process: its transport, its consumers (group name -> consumer ORM) and the producer's relay. */
  function startProcess(
    groups: Record<string, MikroORM>,
    options: { refuse?: Set<string>; retry?: Partial<RetryPolicy>; seen?: (noteId: string) => void } = {},
  ) {
    const transport = bus.open();
    running.push({ stop: () => transport.close() });
    const calls: string[] = [];
    for (const [group, orm] of Object.entries(groups)) {
      const consumer = startConsumer({
        orm,
        transport,
        group,
        log,
        retry: options.retry ?? quickRetry,
        handlers: [
          on(Noted, async (em, note) => {
            calls.push(`${group}:${note.noteId}`);
            options.seen?.(note.noteId);
            await em.execute('insert into notes (group_name, note_id) values (?, ?)', [group, note.noteId]);
            if (options.refuse?.has(note.noteId)) throw new Error('refused on purpose');
            if (calls.filter((c) => c === `${group}:${note.noteId}`).length <= note.fail) throw new Error('failing on purpose');
          }),
        ],
      });
      running.push(consumer);
    }
    transport.consumersStarted?.();
    const relay = new OutboxRelay(producer, transport, log, { intervalMs: 20 });
    relay.start();
    running.push(relay);
    return { transport, calls, relay };
  }

  async function write(noteId: string, fail = 0): Promise<void> {
    await openPersistence(producer, { source: 'test' }).useCase(async (tx) => {
      tx.outbox.record(Noted, { noteId, fail });
    });
  }

  const noted = async (orm: MikroORM, group: string, noteId: string) =>
    ((await orm.em.fork().execute('select 1 from notes where group_name = ? and note_id = ?', [group, noteId])) as unknown[]).length;

  it("delivers a committed event to each consumer on its own database context, never its producer's", async () => {
    const [first, second] = [unique('first'), unique('second')];
    const { transport } = startProcess({ [first]: consumerOrms[0]!, [second]: consumerOrms[1]! });
    const noteId = unique('note');
    await write(noteId);
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, first, noteId),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => noted(consumerOrms[1]!, second, noteId),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(await transport.deadLetters(Noted.type)).toEqual([]);
  });

  it('runs a handler outside the async context of whoever appended the event', async () => {
    const caller = new AsyncLocalStorage<string>();
    const stores: (string | undefined)[] = [];
    const group = unique('detached');
    const { transport } = startProcess({ [group]: consumerOrms[0]! }, { seen: () => stores.push(caller.getStore()) });
    const noteId = unique('note');
    await caller.run('the appender', () => transport.append(newEnvelope('test', Noted.type, { noteId, fail: 0 })));
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, group, noteId),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(stores).toEqual([undefined]);
  });

  it('retries a failed event after its backoff without holding up the events behind it, and applies it once', async () => {
    const group = unique('retry');
    const { calls } = startProcess({ [group]: consumerOrms[0]! }, { retry: { backoffMs: 400, maxAttempts: 3, maxBackoffMs: 400 } });
    const [flaky, next] = [unique('flaky'), unique('next')];
    await write(flaky, 1);
    await write(next);
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, group, next),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    // The event behind the failed one went through while the failed one waited for its backoff.
    expect(await noted(consumerOrms[0]!, group, flaky)).toBe(0);
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, group, flaky),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    expect(calls.filter((c) => c.endsWith(flaky))).toHaveLength(2);
  });

  it('dead-letters an event past the retry limit, and its dead letter outlives the process', async () => {
    const group = unique('dead');
    const poison = unique('poison');
    const first = startProcess({ [group]: consumerOrms[0]! });
    await write(poison, 100);
    const letters = await eventually(
      () => first.transport.deadLetters(Noted.type),
      (l) => l.some((x) => x.group === group),
      10_000,
    );
    expect(letters.filter((l) => l.group === group)).toEqual([
      { group, envelope: expect.objectContaining({ type: Noted.type, payload: { noteId: poison, fail: 100 } }), error: 'failing on purpose' },
    ]);
    expect(first.calls).toHaveLength(quickRetry.maxAttempts!);
    await stopAll();

    const restarted = startProcess({ [group]: consumerOrms[0]! });
    const after = await restarted.transport.deadLetters(Noted.type);
    expect(after.filter((l) => l.group === group)).toHaveLength(1);
    expect(await noted(consumerOrms[0]!, group, poison)).toBe(0);
  });

  it('delivers after a restart what was published but not yet handled when the process stopped', async () => {
    const group = unique('restart');
    const [handled, pending] = [unique('handled'), unique('pending')];
    // The first process stops before its consumer could handle `pending` (it fails, with a long backoff).
    const first = startProcess(
      { [group]: consumerOrms[0]! },
      { refuse: new Set([pending]), retry: { backoffMs: 60_000, maxAttempts: 5, maxBackoffMs: 60_000 } },
    );
    await write(handled);
    await write(pending);
    await eventually(
      async () => first.calls.length,
      (n) => n === 2,
      5_000,
    );
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, group, handled),
        (n) => n === 1,
        5_000,
      ),
    ).toBe(1);
    const outbox = async () =>
      (await producer.em
        .fork()
        .execute('select extract(epoch from published_at)::float8 as published, delivered_at is not null as delivered from outbox_events order by seq')) as {
        published: number;
        delivered: boolean;
      }[];
    // The in-process bus marks what every group is done with; a restart publishes again the rest.
    if (bus.kind === 'memory') await eventually(outbox, (rows) => rows[0]!.delivered, 5_000);
    const before = await outbox();
    await stopAll();
    expect(await noted(consumerOrms[0]!, group, pending)).toBe(0);

    const second = startProcess({ [group]: consumerOrms[0]! }, { retry: { backoffMs: 50, maxAttempts: 5, maxBackoffMs: 50 } });
    expect(
      await eventually(
        () => noted(consumerOrms[0]!, group, pending),
        (n) => n === 1,
        10_000,
      ),
    ).toBe(1);
    expect(second.calls).toEqual([`${group}:${pending}`]);
    if (bus.kind === 'memory') {
      const after = await outbox();
      expect(after[0]!.published).toBe(before[0]!.published);
      expect(after[1]!.published).toBeGreaterThan(before[1]!.published);
      expect(after.map((row) => row.delivered)).toEqual([true, true]);
    }
  });
});
