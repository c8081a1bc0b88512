import { defineSubgraph } from '@vibestream/platform';
import { loadDiscoveryConfig } from './config.ts';
import { discoveryHandlers } from './handlers.ts';
import { migrations } from './migrations.ts';
import { resolvers, type DiscoveryContext } from './resolvers.ts';
import { DiscoveryService, startNeighbourRefresh } from './service.ts';

export const discoverySubgraph = defineSubgraph({
  name: 'discovery',
  defaultPort: 4009,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadDiscoveryConfig,
  database: { migrations },
  setup: ({ persistence, config, log }) => {
    const service = new DiscoveryService({ db: persistence, minPairListeners: config.DISCOVERY_MIN_PAIR_LISTENERS });
    return {
      handlers: discoveryHandlers(persistence),
      context: ({ em: _em, ...base }): DiscoveryContext => ({ ...base, service }),
      background: () => startNeighbourRefresh(service, config.DISCOVERY_NEIGHBOUR_REFRESH_MS, log),
    };
  },
});
