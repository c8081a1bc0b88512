import {
  OutboxRelay,
  createFailureLimiter,
  createInfra,
  createLogger,
  createTokenVerifier,
  ensureDevSecret,
  loadSchemaFile,
  openDatabase,
  sendJson,
  startSubgraphServer,
  type SubgraphModule,
  type SubgraphStartOptions,
} from '@vibestream/platform';
import { ApiKeyService } from './api-keys.ts';
import { loadIdentityConfig } from './config.ts';
import { entities } from './entities.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type IdentityContext } from './resolvers.ts';
import { IdentityService } from './service.ts';
import { TokenIssuer } from './token-issuer.ts';

const { sdl, typeDefs } = loadSchemaFile(new URL('../schema.graphql', import.meta.url));

export const JWKS_PATH = '/.well-known/jwks.json';
/** Name of the development INTERNAL_API_TOKEN under `.data/keys/` (`ensureDevSecret`); the gateway uses the same. */
export const INTERNAL_API_TOKEN_SECRET = 'internal-api-token';

async function start(options: SubgraphStartOptions) {
  const config = loadIdentityConfig(options.env);
  const log = options.log ?? createLogger('identity', config.LOG_LEVEL);
  const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const orm = await openDatabase({ url: config.DATABASE_URL, schema: 'identity', entities, migrations, log });
  const issuer = await TokenIssuer.create(config.JWT_PRIVATE_KEY, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  // identity verifies with its own key, so it needs no JWT_PUBLIC_KEY.
  const verifier = await createTokenVerifier({ jwks: issuer.jwks(), issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE });
  const relay = new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
  const service = new IdentityService({
    orm,
    config,
    issuer,
    limiter: createFailureLimiter(infra.redis, infra.prefix, config.LOGIN_FAILURE_WINDOW_SECONDS),
    log,
    onEventsCommitted: () => relay.kick(),
  });
  const apiKeys = new ApiKeyService({ orm, log });
  const internalToken = config.INTERNAL_API_TOKEN ?? (await ensureDevSecret(options.env, INTERNAL_API_TOKEN_SECRET, log));
  await service.ensureAdmin();
  relay.start();

  const server = await startSubgraphServer<IdentityContext>({
    name: 'identity',
    port: options.port ?? config.PORT,
    host: config.HOST,
    typeDefs,
    resolvers: resolvers as never,
    verifier,
    log,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    context: (base) => {
      const em = orm.em.fork();
      return { ...base, em, loaders: createLoaders(em), service, apiKeys };
    },
    routes: [
      { method: 'GET', path: JWKS_PATH, handle: (_req, res) => sendJson(res, 200, issuer.jwks(), { 'cache-control': 'public, max-age=300' }) },
      apiKeys.verifyRoute(internalToken),
    ],
    ready: async () => orm.isConnected(),
  });

  return {
    name: 'identity',
    url: server.url,
    port: server.port,
    stop: async () => {
      await server.stop();
      await relay.stop();
      if (!options.infra) await infra.close();
      await orm.close();
    },
  };
}

export const identitySubgraph: SubgraphModule = { name: 'identity', defaultPort: 4001, sdl, typeDefs, start };
