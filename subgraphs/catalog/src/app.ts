import { join } from 'node:path';
import { createFailureLimiter, dataDir, defineSubgraph, ensureDevSecret } from '@vibestream/platform';
import { loadCatalogConfig, type CatalogConfig } from './config.ts';
import { catalogHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { hlsRoutes } from './hls.ts';
import { mediaRoutes } from './media.ts';
import { migrations } from './migrations.ts';
import { resolvers, type CatalogContext } from './resolvers.ts';
import { CatalogService } from './service.ts';
import { FilesystemStorage } from './storage/filesystem.ts';
import { S3Storage } from './storage/s3.ts';
import { StreamWorker } from './stream-worker.ts';
import { resolveFfmpeg } from './transcode.ts';
import type { MediaStorage } from './storage/storage.ts';

export const catalogSubgraph = defineSubgraph({
  name: 'catalog',
  defaultPort: 4002,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadCatalogConfig,
  database: { migrations },
  setup: async ({ persistence, config, log, env, infra }) => {
    const db = persistence;
    const signingSecret = config.MEDIA_SIGNING_SECRET ?? (await ensureDevSecret(env, 'media-signing', log));
    const storage = createStorage(config, env);
    // Transcoding runs beside requests in every replica, as many jobs at once as STREAM_WORKERS.
    const worker = new StreamWorker({
      db,
      storage,
      ffmpeg: resolveFfmpeg(config.FFMPEG_PATH),
      log,
      leaseSeconds: config.STREAM_JOB_LEASE_SECONDS,
      pollMs: config.STREAM_WORKER_POLL_MS,
      concurrency: config.STREAM_WORKERS,
    });
    const service = new CatalogService({
      db,
      config,
      storage,
      signingSecret,
      streamStarts: createFailureLimiter(infra.redis, `${infra.prefix}catalog:`, 60),
      onStreamJob: () => worker.wake(),
    });
    return {
      handlers: catalogHandlers(db),
      context: ({ em: _em, ...base }): CatalogContext => ({ ...base, loaders: createLoaders(db.reader(), base.principal?.userId ?? null), service, config }),
      routes: [...mediaRoutes({ db, storage, signingSecret, log }), ...hlsRoutes({ db, storage, signingSecret, log })],
      background: () => {
        worker.start();
        return worker;
      },
    };
  },
});

/** Where uploaded media lives: S3 when configured, the data directory otherwise. */
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
