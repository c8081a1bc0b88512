import { defineSubgraph } from '@vibestream/platform';
import { loadNotificationsConfig } from './config.ts';
import { notificationsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type NotificationsContext } from './resolvers.ts';
import { NotificationsService } from './service.ts';
import { resolveVapidKeys } from './push-config.ts';
import { PushSubscriptions } from './push.ts';

export const notificationsSubgraph = defineSubgraph({
  name: 'notifications',
  defaultPort: 4007,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadNotificationsConfig,
  database: { migrations },
  // Notifications only consume: each handled event is published live once its transaction commits.
  outbox: false,
  setup: async ({ persistence, config, log, infra, env }) => {
    const db = persistence;
    const service = new NotificationsService({ db, live: infra.live, log });
    const rewardToken = { decimals: config.REWARD_TOKEN_DECIMALS, symbol: config.REWARD_TOKEN_SYMBOL ?? null };
    const vapid = await resolveVapidKeys(config, env, log);
    const push = new PushSubscriptions({ db, production: config.NODE_ENV === 'production', publicKey: vapid.publicKey });
    return {
      handlers: notificationsHandlers(db, service),
      afterCommit: (envelope) => service.published(envelope),
      context: ({ em: _em, ...base }): NotificationsContext => ({ ...base, service, push, rewardToken, loaders: createLoaders(db.reader()) }),
    };
  },
});
