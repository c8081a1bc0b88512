/**
 * One server of the catalog benchmark, run as its own child process by run.ts: the identity
 * subgraph, the catalog subgraph or our gateway. The protocol with run.ts is bench/lib
 * (protocol.ts; serveChild in child.ts).
 *
 * The catalog counts the SQL statements it runs (the `onQuery` option the catalog tests use);
 * run.ts reads the count with the calls `statements` (count and texts) and `resetStatements`.
 */
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startGatewayRole, startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'identity' | 'catalog' | 'gateway';

/** What the `statements` call answers. */
export interface StatementLog {
  count: number;
  /** The first statements since the last reset (at most 50, each cut to 200 characters). */
  sql: string[];
}

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'identity':
      return startSubgraphRole('identity', { env });
    case 'catalog': {
      const log: StatementLog = { count: 0, sql: [] };
      const running = await startSubgraphRole('catalog', {
        env,
        onQuery: (sql) => {
          log.count++;
          // What onQuery sees is MikroORM's log line: drop its colours, "[query]" label and "[took ...]".
          if (log.sql.length < 50)
            log.sql.push(
              sql
                // eslint-disable-next-line no-control-regex
                .replace(/\x1b\[[0-9;]*m/g, '')
                .replace(/^\[query\]\s*/, '')
                .replace(/\s*\[took [^\]]*\]\s*$/, '')
                .replace(/\s+/g, ' ')
                .slice(0, 200),
            );
        },
      });
      return {
        url: running.url,
        stop: running.stop,
        calls: {
          statements: () => log,
          resetStatements: () => {
            log.count = 0;
            log.sql = [];
          },
        },
      };
    }
    case 'gateway':
      return startGatewayRole(message);
  }
}

serveChild(startRole);
