import { defineSubgraph } from '@vibestream/platform';
import { loadLoyaltyConfig } from './config.ts';
import { afterCommit, loyaltyHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type LoyaltyContext } from './resolvers.ts';
import { LoyaltyService } from './service.ts';

export const loyaltySubgraph = defineSubgraph({
  name: 'loyalty',
  defaultPort: 4008,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadLoyaltyConfig,
  database: { migrations },
  setup: ({ persistence, projections }) => {
    const db = persistence;
    const service = new LoyaltyService({ db, projections });
    return {
      handlers: loyaltyHandlers(db, service),
      afterCommit: (envelope) => afterCommit(service, envelope),
      context: ({ em: _em, ...base }): LoyaltyContext => ({ ...base, service, loaders: createLoaders(db.reader(), service) }),
    };
  },
});
