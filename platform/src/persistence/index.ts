import type { CacheTag } from '../cache/tags.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type pg from 'pg';
import type { z } from 'zod';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { EventContract, EventEnvelope, PayloadOf } from '../events/contract.ts';
import type { EventHandler } from '../events/consumer.ts';
import { outboxEnvelope } from '../events/outbox.ts';

/**
 * The one way a context touches its data (docs/adr/0001-persistence.md):
 *
 * - `sql` (Kysely's tagged template): every interpolated value is a bound parameter ($1, $2 ...),
 *   never text in the statement; `sql.join`, `sql.raw` and nested `sql` build fragments.
 * - `rows` / `row` / `exec` run one statement on a Session and parse every row with a zod schema,
 *   so a store's functions return checked types, not casts.
 * - A `Tx` (a Session inside a transaction, with its outbox) exists only inside `useCase` or an
 *   event handler made by `onEvent`: there is no other way to get one, and recording an event
 *   takes one.
 *
 * A context's `store.ts` is the only module that calls these with SQL.
 */
export { sql };
export type Sql = RawBuilder<unknown>;

declare const sessionBrand: unique symbol;
declare const txBrand: unique symbol;

/** A connection to read with: the request's, outside any transaction (loaders, read models). */
export interface Session {
  readonly [sessionBrand]: true;
}

/** The events of one transaction: written to the outbox in it, published if and only if it commits. */
export interface Outbox {
  /** Checks the payload against its contract; answers the event's id. */
  record<C extends EventContract>(contract: C, payload: PayloadOf<C>): string;
}

/** A Session inside an open transaction, with that transaction's outbox. */
export interface Tx extends Session {
  readonly [txBrand]: true;
  readonly outbox: Outbox;
  /**
   * Names entities (`Type:id`, entityTag) the use case changed that no event it records names, so
   * the gateway's entity cache drops them once the transaction commits (in an event handler, the
   * handled event's entities are dropped instead).
   */
  changed(...tags: CacheTag[]): void;
}

interface Handle {
  kysely: Kysely<Record<string, never>>;
  onQuery: ((sql: string) => void) | undefined;
  /** A reader's: the pool its statements go to straight, each on a connection of its own. */
  pool?: PoolRef;
}

/** The ORM's pg pool, known once the connection has opened. */
interface PoolRef {
  pool: pg.Pool | undefined;
  opened: Promise<pg.Pool>;
}

interface OpenTx {
  owner: Persistence;
  tx: Tx;
  open: boolean;
  events: EventEnvelope[];
}

const handles = new WeakMap<Session, Handle>();
const openTx = new AsyncLocalStorage<OpenTx>();

/** What a transaction runs once it committed (`afterCommit`), and the Persistence it belongs to. */
interface TxHooks {
  owner: Persistence;
  committed: (() => void)[];
}
const txHooks = new WeakMap<Tx, TxHooks>();

function hooksOf(tx: Tx): TxHooks {
  const hooks = txHooks.get(tx);
  if (!hooks) throw new Error('not a transaction of the persistence kernel');
  return hooks;
}

/**
 * Runs `fn` once the transaction of `tx` committed (never when it rolls back): wakes what waits
 * for the rows it wrote (a job worker). Errors `fn` throws are ignored.
 */
export function afterCommit(tx: Tx, fn: () => void): void {
  hooksOf(tx).committed.push(fn);
}

/** The Persistence whose use case or event handler opened `tx`. */
export function persistenceOf(tx: Tx): Persistence {
  return hooksOf(tx).owner;
}

function runCommitted(fns: readonly (() => void)[]): void {
  for (const fn of fns) {
    try {
      fn();
    } catch {
      // A wake-up that fails leaves the work to the next poll.
    }
  }
}

function kyselyOf(em: EntityManager): Kysely<Record<string, never>> {
  return em.getKysely<Record<string, never>>();
}

/**
 * The Session of reads outside any transaction. Its statements are compiled by Kysely like every
 * other, and run on the ORM's pg pool directly: acquire, query, release, as Kysely's pg driver
 * does, without its executor's layers of promises around each statement.
 */
function newReader(em: EntityManager, onQuery: Handle['onQuery']): Session {
  const session = Object.freeze({}) as Session;
  const ref: PoolRef = { pool: undefined, opened: em.getConnection().getNativeClient() };
  ref.opened.then(
    (pool) => (ref.pool = pool),
    () => undefined,
  );
  handles.set(session, { kysely: kyselyOf(em), onQuery, pool: ref });
  return session;
}

async function runOnPool(ref: PoolRef, compiled: CompiledQuery): Promise<{ rows: unknown[]; numAffectedRows?: bigint }> {
  const client = await (ref.pool ?? (await ref.opened)).connect();
  try {
    const { command, rowCount, rows } = await client.query(compiled.sql, compiled.parameters as unknown[]);
    const changes = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return changes ? { rows: rows ?? [], numAffectedRows: BigInt(rowCount ?? 0) } : { rows: rows ?? [] };
  } finally {
    client.release();
  }
}

function newTx(em: EntityManager, onQuery: Handle['onQuery'], source: string, events: EventEnvelope[], changed: Set<CacheTag>): Tx {
  const tx = Object.freeze({
    changed(...tags: CacheTag[]) {
      for (const tag of tags) changed.add(tag);
    },
    outbox: Object.freeze({
      record<C extends EventContract>(contract: C, payload: PayloadOf<C>): string {
        const envelope = outboxEnvelope(source, contract, payload);
        events.push(envelope);
        return envelope.id;
      },
    }),
  }) as unknown as Tx;
  handles.set(tx, { kysely: kyselyOf(em), onQuery });
  return tx;
}

function handleOf(db: Session): Handle {
  const handle = handles.get(db);
  if (!handle) throw new Error('not a Session of the persistence kernel');
  return handle;
}

async function run(db: Session, query: Sql): Promise<{ rows: unknown[]; numAffectedRows?: bigint }> {
  const { kysely, onQuery, pool } = handleOf(db);
  const compiled = query.compile(kysely);
  onQuery?.(compiled.sql);
  return pool ? runOnPool(pool, compiled) : kysely.executeQuery(compiled);
}

/** Runs `query` and parses each row with `schema`; a row that does not match is an error, not a cast. */
export async function rows<S extends z.ZodType>(db: Session, schema: S, query: Sql): Promise<z.output<S>[]> {
  const result = await run(db, query);
  return result.rows.map((r) => schema.parse(r));
}

/** The first row of `query`, parsed; undefined when there is none. */
export async function row<S extends z.ZodType>(db: Session, schema: S, query: Sql): Promise<z.output<S> | undefined> {
  const [first] = await rows(db, schema, query);
  return first;
}

/** Runs a statement that answers no rows of interest; answers how many rows it changed. */
export async function exec(tx: Tx, query: Sql): Promise<number> {
  const result = await run(tx, query);
  return Number(result.numAffectedRows ?? 0n);
}

async function flushOutbox(tx: Tx, events: EventEnvelope[]): Promise<void> {
  if (events.length === 0) return;
  const values = events.map(
    (e) => sql`(${e.id}::uuid, ${e.type}, ${e.source}, ${JSON.stringify(e.payload)}::jsonb, ${e.requestId ?? null}, ${e.occurredAt}::timestamptz)`,
  );
  await exec(tx, sql`insert into outbox_events (id, type, source, payload, request_id, occurred_at) values ${sql.join(values)}`);
}

export interface PersistenceOptions {
  /** The context's name: the `source` of the events its use cases record. */
  source: string;
  /** Wakes the outbox relay (and purges what they name from the entity cache); called after a use case that recorded events committed. */
  onEventsCommitted?: (events: readonly EventEnvelope[]) => void | Promise<void>;
  /** Sees every statement (tests that count statements). */
  onQuery?: ((sql: string) => void) | undefined;
  /** Told, after a use case committed, the entities it named with `tx.changed` (the entity cache drops them). */
  onChanged?: ((tags: readonly CacheTag[]) => void | Promise<void>) | undefined;
}

/** A context's access to its own schema: reads, use cases and event handlers. */
export interface Persistence {
  /**
   * Runs `work` as one use case: opens a transaction, hands it the transaction and its outbox,
   * commits (writing the recorded events with it) and then wakes the relay. When `work` throws,
   * nothing it wrote and no event it recorded remains. Called inside another use case (or an
   * event handler) of the same context, it joins that transaction.
   */
  useCase<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** A Session for reads outside any transaction (each statement on a pooled connection of its own). */
  reader(): Session;
  /**
   * Holds what `lock` takes (transaction-scoped locks, e.g. `pg_advisory_xact_lock`) in a
   * transaction of its own while `work` runs outside it: the use cases `work` starts do not join
   * it, each commits on its own. The transaction, and its locks, end when `work` does.
   */
  holding<T>(lock: (tx: Tx) => Promise<unknown>, work: () => Promise<T>): Promise<T>;
  /**
   * An event handler whose work runs in the consumer's transaction (the one that records the
   * event as handled), as a Tx: events it records commit with it.
   */
  on<C extends EventContract>(
    contract: C,
    handle: (tx: Tx, payload: PayloadOf<C>, envelope: EventEnvelope) => Promise<void>,
    options?: { key?: (payload: PayloadOf<C>) => string },
  ): EventHandler<C>;
}

export function openPersistence(orm: MikroORM, options: PersistenceOptions): Persistence {
  const { source, onQuery } = options;

  async function inTransaction<T>(
    em: EntityManager,
    work: (tx: Tx) => Promise<T>,
  ): Promise<{ value: T; events: EventEnvelope[]; changed: Set<CacheTag>; committed: (() => void)[] }> {
    const events: EventEnvelope[] = [];
    const changed = new Set<CacheTag>();
    const tx = newTx(em, onQuery, source, events, changed);
    const committed: (() => void)[] = [];
    txHooks.set(tx, { owner: persistence, committed });
    const state: OpenTx = { owner: persistence, tx, open: true, events };
    try {
      const value = await openTx.run(state, () => work(tx));
      await flushOutbox(tx, events);
      return { value, events, changed, committed };
    } finally {
      state.open = false;
    }
  }

  let sharedReader: Session | undefined;
  const persistence: Persistence = {
    async useCase(work) {
      const current = openTx.getStore();
      if (current?.open && current.owner === persistence) return work(current.tx);
      const em = orm.em.fork({ disableContextResolution: true });
      const { value, events, changed, committed } = await em.transactional((txEm) => inTransaction(txEm, work));
      runCommitted(committed);
      // Awaited: what the use case's caller announces next (a live event) comes after the purge.
      if (events.length > 0) await options.onEventsCommitted?.(events);
      if (changed.size > 0) await options.onChanged?.([...changed]);
      return value;
    },
    holding(lock, work) {
      const em = orm.em.fork({ disableContextResolution: true });
      return em.transactional(async (txEm) => {
        await inTransaction(txEm, lock);
        return openTx.exit(work);
      });
    },
    reader() {
      // Outside a transaction every statement takes a pooled connection of its own: one Session serves all readers.
      sharedReader ??= newReader(orm.em.fork({ disableContextResolution: true }), onQuery);
      return sharedReader;
    },
    on(contract, handle, handlerOptions = {}) {
      return {
        contract,
        handle: async (em, payload, envelope) => {
          const { committed } = await inTransaction(em, (tx) => handle(tx, payload, envelope));
          // The consumer runs this once its transaction (the event marked handled) committed.
          return committed.length > 0 ? () => runCommitted(committed) : undefined;
        },
        ...handlerOptions,
      };
    },
  };
  return persistence;
}
