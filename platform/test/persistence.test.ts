import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createLogger,
  defineEvent,
  exec,
  openDatabase,
  openPersistence,
  row,
  rows,
  sql,
  sqlMigration,
  type MikroORM,
  type Persistence,
} from '@vibestream/platform';
import { createTestDatabase, type TestDatabase } from '@vibestream/testkit';

const log = createLogger('persistence-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Noted = defineEvent('test.note.written.v1', z.object({ noteId: z.string(), body: z.string() }));
const Note = z.object({ id: z.string(), body: z.string(), n: z.coerce.number() });
const Count = z.object({ n: z.number() });

let db: TestDatabase;
let orm: MikroORM;
let persistence: Persistence;
let wakes = 0;
const statements: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('persistence');
  orm = await openDatabase({
    url: db.url,
    schema: 'persistencetest',
    entities: [],
    migrations: [sqlMigration('0001_notes', 'create table notes (id text primary key, body text not null, n bigint not null default 0);')],
    log,
  });
  persistence = openPersistence(orm, { source: 'persistencetest', onEventsCommitted: () => void wakes++, onQuery: (s) => void statements.push(s) });
});

afterAll(async () => {
  await orm?.close();
  await db?.drop();
});

const insertNote = (id: string, body: string) => sql`insert into notes (id, body) values (${id}, ${body})`;
const noteCount = async (id: string) => (await row(persistence.reader(), Count, sql`select count(*)::int as n from notes where id = ${id}`))?.n;
const eventsOf = async (noteId: string) =>
  rows(
    persistence.reader(),
    z.object({ type: z.string(), source: z.string() }),
    sql`select type, source from outbox_events where payload->>'noteId' = ${noteId}`,
  );

describe('the persistence kernel', () => {
  it('binds values as parameters, never as text in the statement', async () => {
    const body = "Robert'); drop table notes; --";
    statements.length = 0;
    await persistence.useCase((tx) => exec(tx, insertNote('bound-1', body)));
    expect(statements.some((s) => s.includes(body))).toBe(false);
    expect(statements.some((s) => /values \(\$1, \$2\)/.test(s))).toBe(true);
    expect(await row(persistence.reader(), Note, sql`select * from notes where id = ${'bound-1'}`)).toEqual({ id: 'bound-1', body, n: 0 });
  });

  it('gives an outbox only to a transaction: a reader cannot record an event', () => {
    const reader = persistence.reader();
    // @ts-expect-error a Session (outside a transaction) has no outbox
    expect(reader.outbox).toBeUndefined();
  });

  it('parses each row with its schema: a row of another shape is an error', async () => {
    await expect(rows(persistence.reader(), z.object({ id: z.number() }), sql`select id from notes`)).rejects.toThrow();
  });

  it('commits a use case with its events, and wakes the relay after the commit', async () => {
    const before = wakes;
    const id = await persistence.useCase(async (tx) => {
      await exec(tx, insertNote('commit-1', 'kept'));
      tx.outbox.record(Noted, { noteId: 'commit-1', body: 'kept' });
      // Not yet visible to anyone else, and the relay not yet woken.
      expect(await noteCount('commit-1')).toBe(0);
      expect(await eventsOf('commit-1')).toEqual([]);
      expect(wakes).toBe(before);
      return 'commit-1';
    });
    expect(id).toBe('commit-1');
    expect(await noteCount('commit-1')).toBe(1);
    expect(await eventsOf('commit-1')).toEqual([{ type: 'test.note.written.v1', source: 'persistencetest' }]);
    expect(wakes).toBe(before + 1);
  });

  it('leaves no state and no event when the use case throws', async () => {
    const before = wakes;
    await expect(
      persistence.useCase(async (tx) => {
        await exec(tx, insertNote('rollback-1', 'lost'));
        tx.outbox.record(Noted, { noteId: 'rollback-1', body: 'lost' });
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await noteCount('rollback-1')).toBe(0);
    expect(await eventsOf('rollback-1')).toEqual([]);
    expect(wakes).toBe(before);
  });

  it('refuses an event whose payload does not match its contract, before anything commits', async () => {
    await expect(
      persistence.useCase(async (tx) => {
        await exec(tx, insertNote('invalid-1', 'x'));
        tx.outbox.record(Noted, { noteId: 'invalid-1', body: 42 } as unknown as { noteId: string; body: string });
      }),
    ).rejects.toThrow();
    expect(await noteCount('invalid-1')).toBe(0);
  });

  it('joins the open transaction when a use case calls another: one commit, one rollback', async () => {
    await persistence.useCase(async (outer) => {
      await exec(outer, insertNote('nested-1', 'outer'));
      await persistence.useCase(async (inner) => {
        expect(inner).toBe(outer);
        await exec(inner, insertNote('nested-2', 'inner'));
        inner.outbox.record(Noted, { noteId: 'nested-2', body: 'inner' });
      });
      // The inner use case did not commit on its own.
      expect(await noteCount('nested-2')).toBe(0);
    });
    expect(await noteCount('nested-1')).toBe(1);
    expect(await noteCount('nested-2')).toBe(1);
    expect(await eventsOf('nested-2')).toHaveLength(1);

    await expect(
      persistence.useCase(async () => {
        await persistence.useCase((inner) => exec(inner, insertNote('nested-3', 'inner')));
        throw new Error('outer refused');
      }),
    ).rejects.toThrow('outer refused');
    expect(await noteCount('nested-3')).toBe(0);
  });

  it('runs concurrent use cases in their own transactions: one failing does not undo the others', async () => {
    await persistence.useCase((tx) => exec(tx, insertNote('counter', 'c')));
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        persistence.useCase(async (tx) => {
          await exec(tx, sql`update notes set n = n + 1 where id = ${'counter'}`);
          tx.outbox.record(Noted, { noteId: `concurrent-${i}`, body: 'c' });
          if (i % 4 === 0) throw new Error(`refused ${i}`);
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(3);
    expect((await row(persistence.reader(), Note, sql`select * from notes where id = ${'counter'}`))?.n).toBe(9);
    const recorded = await rows(persistence.reader(), Count, sql`select count(*)::int as n from outbox_events where payload->>'noteId' like 'concurrent-%'`);
    expect(recorded[0]?.n).toBe(9);
  });

  it("runs an event handler's work in the consumer's transaction, as a Tx whose events commit with it", async () => {
    const handler = persistence.on(Noted, async (tx, payload) => {
      await exec(tx, insertNote(`handled-${payload.noteId}`, payload.body));
      tx.outbox.record(Noted, { noteId: `handled-${payload.noteId}`, body: payload.body });
    });
    const envelope = {
      id: '00000000-0000-4000-8000-000000000001',
      type: Noted.type,
      source: 't',
      payload: {},
      requestId: null,
      occurredAt: new Date().toISOString(),
    };
    await expect(
      orm.em.fork().transactional(async (em) => {
        await handler.handle(em, { noteId: 'h1', body: 'b' }, envelope);
        throw new Error('consumer rolled back');
      }),
    ).rejects.toThrow('consumer rolled back');
    expect(await noteCount('handled-h1')).toBe(0);
    expect(await eventsOf('handled-h1')).toEqual([]);
    await orm.em.fork().transactional((em) => handler.handle(em, { noteId: 'h2', body: 'b' }, envelope));
    expect(await noteCount('handled-h2')).toBe(1);
    expect(await eventsOf('handled-h2')).toHaveLength(1);
  });

  it('holds locks in a transaction of its own while the work runs outside it: its use cases commit on their own', async () => {
    const key = 'persistence-test:holding';
    const Locked = z.object({ locked: z.boolean() });
    const tryLock = () => persistence.useCase((tx) => row(tx, Locked, sql`select pg_try_advisory_xact_lock(hashtext(${key})) as locked`));
    const answer = await persistence.holding(
      (tx) => exec(tx, sql`select pg_advisory_xact_lock(hashtext(${key}))`),
      async () => {
        // Another transaction cannot take the lock while the work runs...
        expect(await tryLock()).toEqual({ locked: false });
        // ...and a use case of the work commits at once, not with the lock's transaction.
        await persistence.useCase((tx) => exec(tx, insertNote('holding-1', 'committed before the work ends')));
        expect(await noteCount('holding-1')).toBe(1);
        return 'done';
      },
    );
    expect(answer).toBe('done');
    // The lock ended with the work.
    expect(await tryLock()).toEqual({ locked: true });
  });
});
