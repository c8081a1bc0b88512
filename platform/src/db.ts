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
