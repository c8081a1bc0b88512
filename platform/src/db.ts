import pg from 'pg';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { MigrationObject } from '@mikro-orm/core';
import type { Logger } from './logger.ts';
import { OutboxEventEntity, HandledEventEntity, platformMigrations } from './events/tables.ts';

export { MikroORM, type EntityManager };
export { sqlMigration } from './migration.ts';

export interface DatabaseOptions {
  /** PostgreSQL connection URL. */
  url: string;
  /** The Postgres schema this subgraph owns; nothing else writes to it. */
  schema: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  entities: any[];
  /** Versioned migrations, applied in order at start-up. */
  migrations: MigrationObject[];
  log: Logger;
  poolSize?: number;
  /** Called with every SQL statement (used by tests that count statements). */
  onQuery?: (sql: string) => void;
}

function assertSafeIdentifier(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`Unsafe schema name: ${schema}`);
  return schema;
}

/**
 * Opens the subgraph's MikroORM, creates its schema and applies pending migrations under a
 * Postgres advisory lock, so replicas starting together migrate once.
 */
export async function openDatabase(options: DatabaseOptions): Promise<MikroORM> {
  const schema = assertSafeIdentifier(options.schema);
  await migrate(options, schema);
  const config: Options = {
    clientUrl: options.url,
    schema,
    entities: [OutboxEventEntity, HandledEventEntity, ...options.entities],
    pool: { min: 0, max: options.poolSize ?? 10 },
    // Raw SQL in this subgraph names its own tables unqualified.
    driverOptions: { options: `-c search_path=${schema},public` },
    debug: options.onQuery ? ['query'] : false,
    logger: options.onQuery ? (message: string) => options.onQuery?.(message) : () => undefined,
    allowGlobalContext: false,
    ensureDatabase: false,
    discovery: { warnWhenNoEntities: false },
  };
  return MikroORM.init(config);
}

async function migrate(options: DatabaseOptions, schema: string): Promise<void> {
  const lockClient = new pg.Client({ connectionString: options.url });
  await lockClient.connect();
  try {
    await lockClient.query('select pg_advisory_lock(hashtext($1))', [`vibestream:migrate:${schema}`]);
    await lockClient.query(`create schema if not exists "${schema}"`);
    const orm = await MikroORM.init({
      clientUrl: options.url,
      schema,
      entities: [OutboxEventEntity, HandledEventEntity, ...options.entities],
      extensions: [Migrator],
      pool: { min: 0, max: 1 },
      debug: false,
      logger: () => undefined,
      discovery: { warnWhenNoEntities: false },
      migrations: {
        tableName: 'schema_migrations',
        schema,
        migrationsList: [...platformMigrations, ...options.migrations],
        transactional: true,
        allOrNothing: true,
        snapshot: false,
        silent: true,
      },
    });
    try {
      const applied = await orm.migrator.up();
      if (applied.length > 0) options.log.info({ schema, migrations: applied.map((m) => m.name) }, 'migrations applied');
    } finally {
      await orm.close(true);
    }
  } finally {
    await lockClient.query('select pg_advisory_unlock(hashtext($1))', [`vibestream:migrate:${schema}`]).catch(() => undefined);
    await lockClient.end();
  }
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; name?: string } | null;
  if (!e) return false;
  const unique = e.code === '23505' || e.name === 'UniqueConstraintViolationException';
  return unique && (!constraint || e.constraint === constraint || String((error as Error).message).includes(constraint));
}

export type SqlPool = pg.Pool;
export type SqlClient = pg.PoolClient;

/**
 * A plain node-postgres pool on the subgraph's schema, for a hot path that needs named
 * (prepared) statements and a few round trips per use case rather than the ORM's.
 * `onQuery` sees every statement, as with openDatabase.
 */
export function openSqlPool(options: { url: string; schema: string; max?: number; onQuery?: (sql: string) => void }): SqlPool {
  const schema = assertSafeIdentifier(options.schema);
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 10, options: `-c search_path=${schema},public` });
  if (options.onQuery) {
    const onQuery = options.onQuery;
    pool.on('acquire', (client) => {
      const marked = client as pg.PoolClient & { __counted?: boolean };
      if (marked.__counted) return;
      marked.__counted = true;
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const first = args[0] as string | { text: string };
        onQuery(typeof first === 'string' ? first : first.text);
        return query(...args);
      };
    });
  }
  return pool;
}

/**
 * Runs `work` on one client of `pool` and releases it; when `work` throws, whatever
 * transaction it left open is rolled back first.
 */
export async function withSqlClient<T>(pool: SqlPool, work: (client: SqlClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await work(client);
  } catch (error) {
    // A client that cannot even roll back is not given to the next caller.
    broken = await client.query('rollback').then(
      () => false,
      () => true,
    );
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Writes `values` into `text` in place of $1, $2 ... as SQL literals (strings escaped with
 * node-postgres' escapeLiteral, numbers only when safe integers, arrays as ARRAY[...], dates
 * as ISO strings), for a simple-protocol query that carries several statements in one round
 * trip ("begin; select ...; select ..."), which a parameterised query cannot. Give every
 * placeholder whose type the context does not fix an explicit cast (`$2::uuid`).
 */
export function inlineSql(text: string, values: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= values.length) throw new Error(`no value for $${n}`);
    return sqlLiteral(values[index]);
  });
}

function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not a safe integer: ${value}`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
  if (Array.isArray(value)) return `ARRAY[${value.map(sqlLiteral).join(',')}]`;
  if (typeof value === 'string') return pg.escapeLiteral(value);
  throw new Error(`no SQL literal for a ${typeof value}`);
}
