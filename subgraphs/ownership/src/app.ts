import {
  OutboxRelay,
  createInfra,
  createLogger,
  verifierFromConfig,
  loadSchemaFile,
  openDatabase,
  openSqlPool,
  startConsumer,
  startSubgraphServer,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { loadOwnershipConfig } from './config.ts';
import { ownershipHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type OwnershipContext } from './resolvers.ts';
import { OwnershipService } from './service.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

async function start(options: SubgraphStartOptions) {
  const config = loadOwnershipConfig(options.env);
  const log = options.log ?? createLogger('ownership', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({
    url: config.DATABASE_URL,
    schema: 'ownership',
    entities: [],
    migrations,
    log,
    poolSize: 20,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  // placeOrder's hot path runs on plain node-postgres with prepared statements.
  const sql = openSqlPool({ url: config.DATABASE_URL, schema: 'ownership', max: 20, ...(options.onQuery ? { onQuery: options.onQuery } : {}) });
  const verifier = await verifierFromConfig(config);
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const service = new OwnershipService({ takerFeeBps: config.TAKER_FEE_BPS, live: infra.live, log, sql, onEventsCommitted: () => relay.kick() });
  relay.start();
  const consumer = startConsumer({ orm, transport: infra.transport, group: 'ownership', handlers: ownershipHandlers, log });

  const server = await startSubgraphServer<OwnershipContext>({
    name: 'ownership',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, service, loaders: createLoaders(em) };
    },
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'ownership',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await consumer.stop();
      await relay.stop();
      await sql.end();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

export const ownershipSubgraph: SubgraphModule = { name: 'ownership', defaultPort: 4004, sdl, typeDefs, start };
