import { defineSubgraph } from '@vibestream/platform';
import { loadOwnershipConfig } from './config.ts';
import { ownershipHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type OwnershipContext } from './resolvers.ts';
import { openPlacementPool } from './placement.ts';
import { OwnershipService } from './service.ts';

export const ownershipSubgraph = defineSubgraph({
  name: 'ownership',
  defaultPort: 4004,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadOwnershipConfig,
  database: { migrations, poolSize: 20 },
  setup: ({ persistence, config, log, infra, onQuery, onEventsCommitted, projections }) => {
    const db = persistence;
    // placeOrder's two round trips run on plain node-postgres (see placement.ts).
    const sql = openPlacementPool({ url: config.DATABASE_URL, schema: 'ownership', max: 20, ...(onQuery ? { onQuery } : {}) });
    const service = new OwnershipService({ db, takerFeeBps: config.TAKER_FEE_BPS, live: infra.live, log, sql, onEventsCommitted, projections });
    return {
      handlers: ownershipHandlers(db),
      context: ({ em: _em, ...base }): OwnershipContext => ({ ...base, service, loaders: createLoaders(db.reader()) }),
      stop: () => sql.end(),
    };
  },
});
