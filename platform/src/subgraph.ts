import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse, type DocumentNode } from 'graphql';
import { ConfigError } from './config.ts';
import type { Logger } from './logger.ts';
import { keepServingThroughFaults } from './process-faults.ts';
import type { Infra } from './infra.ts';
import { ensureDatabase, ensureSigningKeys, onShutdown } from './runtime.ts';
import { checkConfigBeforeStart, exitOnStartFailure, processLogger } from './startup.ts';

export interface SubgraphStartOptions {
  env: NodeJS.ProcessEnv;
  /** Overrides PORT; 0 picks a free port. */
  port?: number;
  /** Shared messaging, when several subgraphs run in one process. */
  infra?: Infra;
  log?: Logger;
  /** Sees every SQL statement the subgraph runs (tests count statements with it). */
  onQuery?: (sql: string) => void;
}

export interface RunningSubgraph {
  name: string;
  url: string;
  port: number;
  /** The port of its metrics listener, when METRICS_PORT asked for one. */
  metricsPort?: number;
  stop(): Promise<void>;
}

/** What each `subgraphs/<context>` exports, so the launcher, tests and compose treat them alike. */
export interface SubgraphModule {
  name: string;
  defaultPort: number;
  /** The subgraph's SDL (schema.graphql). */
  sdl: string;
  typeDefs: DocumentNode;
  start(options: SubgraphStartOptions): Promise<RunningSubgraph>;
  /** Validates the subgraph's variables in `env` (a ConfigError names each bad one) without starting anything. */
  checkConfig?(env: NodeJS.ProcessEnv): void;
}

export function loadSchemaFile(url: URL): { sdl: string; typeDefs: DocumentNode } {
  const sdl = readFileSync(url, 'utf8');
  return { sdl, typeDefs: parse(sdl) };
}

/**
 * Fills what a development run may leave out: an embedded PostgreSQL when DATABASE_URL is
 * unset, and the development signing keys when no key is configured.
 */
export async function prepareDevelopmentEnv(env: NodeJS.ProcessEnv, log: Logger): Promise<{ env: NodeJS.ProcessEnv; stop(): Promise<void> }> {
  const database = await ensureDatabase(env, log);
  const keys = env.JWT_PUBLIC_KEY || env.JWKS_URL ? null : await ensureSigningKeys(env, log);
  // A configured private key alone is enough: its public half verifies.
  const derivedPublic = !keys && env.JWT_PRIVATE_KEY && !env.JWT_PUBLIC_KEY && !env.JWKS_URL ? publicHalf(env.JWT_PRIVATE_KEY) : null;
  return {
    env: {
      ...env,
      DATABASE_URL: database.url,
      ...(keys ? { JWT_PRIVATE_KEY: keys.privateKeyPem, JWT_PUBLIC_KEY: keys.publicKeyPem } : {}),
      ...(derivedPublic ? { JWT_PUBLIC_KEY: derivedPublic } : {}),
    },
    stop: database.stop,
  };
}

function publicHalf(privateKeyPem: string): string {
  try {
    return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    throw new ConfigError([{ variable: 'JWT_PRIVATE_KEY', message: 'must be an Ed25519 private key in PKCS#8 PEM' }]);
  }
}

/** The body of every subgraph's main.ts: run this one subgraph as its own process. */
export async function runSubgraphMain(module: SubgraphModule): Promise<void> {
  const log = processLogger(module.name);
  keepServingThroughFaults(log);
  try {
    checkConfigBeforeStart([() => module.checkConfig?.(process.env)], process.env);
    const prepared = await prepareDevelopmentEnv(process.env, log);
    const running = await module.start({ env: prepared.env, log });
    log.info({ url: running.url }, `${module.name} subgraph ready`);
    onShutdown(log, async () => {
      await running.stop();
      await prepared.stop();
    });
  } catch (error) {
    exitOnStartFailure(log, error, `${module.name} failed to start`);
  }
}
