import { defineSubgraph } from '@vibestream/platform';
import { loadNotificationsConfig } from './config.ts';
import { notificationsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type NotificationsContext } from './resolvers.ts';
import { NotificationsService } from './service.ts';

export const notificationsSubgraph = defineSubgraph({
  name: 'notifications',
  defaultPort: 4007,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadNotificationsConfig,
  database: { migrations },
  // Notifications only consume: each handled event is published live once its transaction commits.
  outbox: false,
  setup: ({ config, log, infra }) => {
    const service = new NotificationsService({ live: infra.live, log });
    const rewardToken = { decimals: config.REWARD_TOKEN_DECIMALS, symbol: config.REWARD_TOKEN_SYMBOL ?? null };
    return {
      handlers: notificationsHandlers(service),
      afterCommit: (envelope) => service.published(envelope),
      context: (base): NotificationsContext => ({ ...base, service, rewardToken, loaders: createLoaders(base.em) }),
    };
  },
});
