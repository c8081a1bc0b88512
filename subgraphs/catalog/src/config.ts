import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const catalogConfigShape = {
  ...subgraphConfigShape(4002),
  /** The gateway's public address: upload and stream URLs point at it. */
  PUBLIC_URL: z.preprocess(optional, z.url().default('http://localhost:4000')),
  /** HMAC key for upload and stream URLs (a development key is generated in .data/ when unset). */
  MEDIA_SIGNING_SECRET: z.preprocess(optional, z.string().min(32).optional()),
  MEDIA_STORAGE: z.preprocess(optional, z.enum(['filesystem', 's3']).default('filesystem')),
  /** Filesystem storage root; defaults to .data/media. */
  MEDIA_DIR: env.optionalString(),
  S3_BUCKET: env.optionalString(),
  S3_REGION: z.preprocess(optional, z.string().default('us-east-1')),
  S3_ENDPOINT: env.optionalUrl(),
  S3_ACCESS_KEY_ID: env.optionalString(),
  S3_SECRET_ACCESS_KEY: env.optionalString(),
  UPLOAD_URL_TTL_SECONDS: env.int(900, 10),
  STREAM_URL_TTL_SECONDS: env.int(3600, 10),
  TRENDING_WINDOW_DAYS: env.int(7, 1),
};

export type CatalogConfig = ReturnType<typeof loadCatalogConfig>;

export function loadCatalogConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(catalogConfigShape, source);
  if (config.MEDIA_STORAGE === 's3' && !config.S3_BUCKET) throw new Error('Invalid configuration:\n  - S3_BUCKET: is required when MEDIA_STORAGE=s3');
  if (config.NODE_ENV === 'production' && !config.MEDIA_SIGNING_SECRET) {
    throw new Error('Invalid configuration:\n  - MEDIA_SIGNING_SECRET: is required in production');
  }
  return config;
}
