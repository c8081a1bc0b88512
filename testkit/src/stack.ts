import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RunningGateway } from '@vibestream/gateway';
import { createServer } from 'node:net';
import pg from 'pg';
import {
  composeSupergraph,
  createInfra,
  createLogger,
  generateSigningKeys,
  type Infra,
  type Logger,
  type RunningSubgraph,
  type SigningKeys,
  type SubgraphModule,
} from '@vibestream/platform';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { graphqlClient, type GraphQLRequest } from './client.ts';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Environment for one test file: its own database, its own Redis key prefix, its own signing key. */
export async function createTestEnv(label: string, overrides: NodeJS.ProcessEnv = {}) {
  const database = await createTestDatabase(label);
  const keys = generateSigningKeys();
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: `test:${label}:${randomBytes(4).toString('hex')}:`,
    JWT_PRIVATE_KEY: keys.privateKeyPem,
    JWT_PUBLIC_KEY: keys.publicKeyPem,
    PASSWORD_SCRYPT_LOG2N: '12',
    OUTBOX_RELAY_INTERVAL_MS: '50',
    ...overrides,
  };
  return { env, keys, database };
}

/**
 * A port free at the time of asking, so URLs that name the gateway can be configured before it
 * starts. It is drawn from below the kernel's ephemeral range: a port the OS handed out for a
 * `listen(0)` is free again the moment it is closed, and the next `listen(0)` in the process under
 * test (a subgraph on port 0) or an outgoing connection could be given it before the gateway binds.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port below the ephemeral range after 50 tries');
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low > 11_000) return [low, high];
  } catch {
    // not Linux: the IANA dynamic range
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface TestStack {
  env: NodeJS.ProcessEnv;
  keys: SigningKeys;
  database: TestDatabase;
  /** A client on the test database, for checks the API does not show (tables by schema: catalog.songs). */
  db: pg.Client;
  infra: Infra;
  subgraphs: Map<string, RunningSubgraph>;
  gatewayUrl: string;
  /** The gateway's public address (http://127.0.0.1:port), which signed media URLs name. */
  publicUrl: string;
  /** The running gateway (its subscription server counts supergraph lookups). */
  gateway: RunningGateway;
  /** POSTs to the gateway. */
  gql: GraphQLRequest;
  /** POSTs straight to one subgraph. */
  subgraph(name: string): GraphQLRequest;
  log: Logger;
  stop(): Promise<void>;
}

/**
 * Boots the given subgraphs and a gateway on free ports, composing the supergraph in memory
 * from their SDL, against a fresh database and Redis prefix. They share one infra, as under
 * `npm start`; with `REDIS_URL: ''` among the overrides, that is the in-process event bus.
 */
export async function startTestStack(
  label: string,
  modules: SubgraphModule[],
  overrides: NodeJS.ProcessEnv = {},
  options: { onQuery?: Record<string, (sql: string) => void> } = {},
): Promise<TestStack> {
  const gatewayPort = await freePort();
  const publicUrl = `http://127.0.0.1:${gatewayPort}`;
  const { env, keys, database } = await createTestEnv(label, { PUBLIC_URL: publicUrl, ...overrides });
  const log = createLogger(`test-${label}`, env.LOG_LEVEL);
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log });
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const running = new Map<string, RunningSubgraph>();
  for (const module of modules) {
    const onQuery = options.onQuery?.[module.name];
    running.set(module.name, await module.start({ env, port: 0, infra, log, ...(onQuery ? { onQuery } : {}) }));
  }
  infra.transport.consumersStarted?.();
  const { supergraph } = composeSupergraph(modules, (m) => running.get(m.name)!.url);
  const { startGateway } = await import('@vibestream/gateway');
  const gateway = await startGateway({
    env: { ...env, HOST: '127.0.0.1' },
    supergraphSdl: supergraph,
    port: gatewayPort,
    log,
    live: infra.live,
    revocations: infra.revocations,
    cacheInvalidations: infra.cacheInvalidations,
  });
  const gatewayUrl = `${publicUrl}/graphql`;
  return {
    env,
    keys,
    database,
    db,
    infra,
    subgraphs: running,
    gatewayUrl,
    publicUrl,
    gateway,
    gql: graphqlClient(gatewayUrl),
    subgraph: (name) => graphqlClient(running.get(name)!.url),
    log,
    stop: async () => {
      await gateway.stop();
      for (const s of [...running.values()].reverse()) await s.stop();
      await infra.close();
      await db.end();
      await database.drop();
    },
  };
}
