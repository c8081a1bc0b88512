import { join } from 'node:path';
import {
  OutboxRelay,
  createInfra,
  createLogger,
  verifierFromConfig,
  dataDir,
  ensureDevSecret,
  loadSchemaFile,
  openDatabase,
  startConsumer,
  startSubgraphServer,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import { entities } from './entities.ts';
import { catalogHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { mediaRoutes } from './media.ts';
import { migrations } from './migrations.ts';
import { resolvers, type CatalogContext } from './resolvers.ts';
import { CatalogService } from './service.ts';
import { FilesystemStorage } from './storage/filesystem.ts';
import { S3Storage } from './storage/s3.ts';
import type { MediaStorage } from './storage/storage.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

function createStorage(config: CatalogConfig, env: NodeJS.ProcessEnv): MediaStorage {
  if (config.MEDIA_STORAGE === 's3') {
    return new S3Storage({
      bucket: config.S3_BUCKET!,
      region: config.S3_REGION,
      endpoint: config.S3_ENDPOINT,
      accessKeyId: config.S3_ACCESS_KEY_ID,
      secretAccessKey: config.S3_SECRET_ACCESS_KEY,
    });
  }
  return new FilesystemStorage(config.MEDIA_DIR ?? join(dataDir(env), 'media'));
}

async function start(options: SubgraphStartOptions) {
  const config = loadCatalogConfig(options.env);
  const log = options.log ?? createLogger('catalog', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({ url: config.DATABASE_URL, schema: 'catalog', entities, migrations, log, ...(options.onQuery ? { onQuery: options.onQuery } : {}) });
  const verifier = await verifierFromConfig(config);
  const signingSecret = config.MEDIA_SIGNING_SECRET ?? (await ensureDevSecret(options.env, 'media-signing', log));
  const storage = createStorage(config, options.env);
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const service = new CatalogService({ config, storage, signingSecret, onEventsCommitted: () => relay.kick() });
  relay.start();
  const consumer = startConsumer({ orm, transport: infra.transport, group: 'catalog', handlers: catalogHandlers, log });

  const server = await startSubgraphServer<CatalogContext>({
    name: 'catalog',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, loaders: createLoaders(em, base.principal?.userId ?? null), service, config };
    },
    routes: mediaRoutes({ orm, storage, signingSecret, log, onEventsCommitted: () => relay.kick() }),
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'catalog',
    url: server.url,
    port: server.port,
    orm,
    stop: async () => {
      await server.stop();
      await consumer.stop();
      await relay.stop();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

export const catalogSubgraph: SubgraphModule = { name: 'catalog', defaultPort: 4002, sdl, typeDefs, start };
