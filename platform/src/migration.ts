import { Migration } from '@mikro-orm/migrations';
import type { MigrationObject } from '@mikro-orm/core';

/** A versioned migration of plain SQL, run with the subgraph's schema as search_path. */
export function sqlMigration(name: string, sql: string): MigrationObject {
  class SqlMigration extends Migration {
    override async up(): Promise<void> {
      this.addSql(sql);
    }
  }
  return { name, class: SqlMigration };
}
