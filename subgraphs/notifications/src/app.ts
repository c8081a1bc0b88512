import {
  createInfra,
  createLogger,
  verifierFromConfig,
  loadSchemaFile,
  openDatabase,
  startConsumer,
  startSubgraphServer,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { loadNotificationsConfig } from './config.ts';
import { notificationsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type NotificationsContext } from './resolvers.ts';
import { NotificationsService } from './service.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

async function start(options: SubgraphStartOptions) {
  const config = loadNotificationsConfig(options.env);
  const log = options.log ?? createLogger('notifications', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({
    url: config.DATABASE_URL,
    schema: 'notifications',
    entities: [],
    migrations,
    log,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const verifier = await verifierFromConfig(config);
  const service = new NotificationsService({ live: infra.live, log });
  const consumer = startConsumer({
    orm,
    transport: infra.transport,
    group: 'notifications',
    handlers: notificationsHandlers(service),
    log,
    afterCommit: (envelope) => service.published(envelope),
  });
  const rewardToken = { decimals: config.REWARD_TOKEN_DECIMALS, symbol: config.REWARD_TOKEN_SYMBOL ?? null };

  const server = await startSubgraphServer<NotificationsContext>({
    name: 'notifications',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, service, rewardToken, loaders: createLoaders(em) };
    },
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'notifications',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await consumer.stop();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

export const notificationsSubgraph: SubgraphModule = { name: 'notifications', defaultPort: 4007, sdl, typeDefs, start };
