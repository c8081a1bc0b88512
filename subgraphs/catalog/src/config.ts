import { env, loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const catalogConfigShape = {
  ...subgraphConfigShape(4002),
  MEDIA_SIGNING_SECRET: z
    .preprocess(optional, z.string().min(32).optional())
    .describe(
      'HMAC secret (at least 32 characters) that signs upload and stream URLs. Required in production; otherwise generated once into VIBESTREAM_DATA_DIR/keys.',
    ),
  MEDIA_STORAGE: z.preprocess(optional, z.enum(['filesystem', 's3']).default('filesystem')).describe('Where media files are kept: filesystem or s3.'),
  MEDIA_DIR: env.optionalString().describe('Root folder of filesystem storage. Default: media/ under VIBESTREAM_DATA_DIR.'),
  S3_BUCKET: env.optionalString().describe('Bucket of s3 storage; required with MEDIA_STORAGE=s3.'),
  S3_REGION: z.preprocess(optional, z.string().default('us-east-1')).describe('Region of the S3 bucket.'),
  S3_ENDPOINT: env.optionalUrl().describe('URL of an S3-compatible service (MinIO, R2, ...); path-style addressing is used when set. Default: AWS.'),
  S3_ACCESS_KEY_ID: env
    .optionalString()
    .describe("Access key id for the bucket (used only with S3_SECRET_ACCESS_KEY). Default: the AWS SDK's credential chain."),
  S3_SECRET_ACCESS_KEY: env.optionalString().describe('Secret access key for the bucket (used only with S3_ACCESS_KEY_ID).'),
  UPLOAD_URL_TTL_SECONDS: env.int(900, 10).describe('How long an upload URL is valid, in seconds.'),
  STREAM_URL_TTL_SECONDS: env.int(3600, 10).describe('How long a stream URL is valid, in seconds.'),
  FFMPEG_PATH: env.optionalString().describe('The ffmpeg binary that transcodes streams. Default: the static build of the @ffmpeg-installer/ffmpeg package.'),
  STREAM_WORKERS: env.int(1, 0).describe('Transcoding jobs this catalog process runs at once (each runs ffmpeg); 0 runs none here.'),
  STREAM_JOB_LEASE_SECONDS: env
    .int(30, 1)
    .describe("How long a transcoding worker's claim on a job lasts without a heartbeat; a job whose worker died is retried after it."),
  STREAM_WORKER_POLL_MS: env.int(2000, 50).describe('How often an idle transcoding worker looks for jobs other replicas enqueued, in milliseconds.'),
  STREAM_STARTS_PER_MINUTE: env.int(30, 1).describe('How many songStream sessions one user may start a minute (RATE_LIMITED beyond).'),
  TRENDING_WINDOW_DAYS: env.int(7, 1).describe('trendingSongs ranks songs by their completed listens in the last this many days.'),
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
