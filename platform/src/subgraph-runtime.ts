import type { GraphQLResolverMap } from '@apollo/subgraph';
import type { MigrationObject } from '@mikro-orm/core';
import { verifierFromConfig, type TokenVerifier } from './auth.ts';
import type { subgraphConfigShape, z } from './config.ts';
import { openDatabase, type EntityManager, type MikroORM } from './db.ts';
import type { EventEnvelope } from './events/contract.ts';
import { startConsumer, type EventHandler } from './events/consumer.ts';
import { ProjectionWaits } from './events/projection-waits.ts';
import { OutboxRelay } from './events/relay.ts';
import { parseTrustedProxies } from './addresses.ts';
import { createInfra, type Infra } from './infra.ts';
import { noteChanged } from './cache/hints.ts';
import { openPersistence, type Persistence } from './persistence/index.ts';
import { eventCacheTags } from './cache/tags.ts';
import { waitForRevocations } from './session-revocations.ts';
import { createLogger, type Logger } from './logger.ts';
import { metricsAccess } from './metrics-endpoint.ts';
import { loadSchemaFile, type SubgraphModule, type SubgraphStartOptions } from './subgraph.ts';
import { startSubgraphServer, type BaseRequestContext, type HttpRoute } from './subgraph-server.ts';

/** The settings the runtime itself reads: a configuration built on `subgraphConfigShape`. */
export type SubgraphRuntimeConfig = z.infer<z.ZodObject<ReturnType<typeof subgraphConfigShape>>>;

/** What a subgraph's `setup` is given: the shared resources, opened and ready. */
export interface SubgraphRuntime<Config> {
  config: Config;
  log: Logger;
  infra: Infra;
  /** The subgraph's MikroORM, on its own Postgres schema, migrated. */
  orm: MikroORM;
  env: NodeJS.ProcessEnv;
  /** The start option's statement observer, for extra connections the subgraph opens. */
  onQuery?: ((sql: string) => void) | undefined;
  /**
   * Call after a transaction that recorded events commits: asks the outbox relay for a pass, and
   * purges the entities the events name from the gateway's entity cache (before the request answers).
   */
  onEventsCommitted: (events: readonly EventEnvelope[]) => Promise<void>;
  /** Waits, bounded, for this context's consumer to project an object it does not know yet (read-your-writes). */
  projections: ProjectionWaits;
  /** The context's Persistence on its ORM: use cases wake the relay and purge what they changed from the entity cache. */
  persistence: Persistence;
}

/** The request context every subgraph resolver gets: the base plus a fresh EntityManager fork (made on first use). */
export type RuntimeRequestContext = BaseRequestContext & { em: EntityManager };

/** What differs from one subgraph to the next, as its `setup` returns it. */
export interface SubgraphWiring<Ctx extends BaseRequestContext> {
  /** Adds the subgraph's services and DataLoaders to the per-request context. */
  context: (base: RuntimeRequestContext) => Ctx;
  /** Handlers of other contexts' events; without them the subgraph consumes nothing. */
  handlers?: EventHandler[];
  /** Called after each consumed event's transaction committed. */
  afterCommit?: (envelope: EventEnvelope) => void;
  routes?: HttpRoute[];
  /** Replaces the verifier of access tokens the configuration names (identity verifies with its own key, and the infra's revocations). */
  verifier?: TokenVerifier;
  /** Work beside requests, started once the relay and consumer run; what it returns is stopped right after the server. */
  background?: () => { stop(): Promise<void> } | void;
  /** Closes what `setup` opened, after the consumer and relay stopped and before the messaging and database close. */
  stop?: () => Promise<void>;
}

export interface SubgraphDefinition<Config extends SubgraphRuntimeConfig, Ctx extends BaseRequestContext> {
  /** Names the subgraph, its Postgres schema, its logger and its consumer group. */
  name: string;
  defaultPort: number;
  /** Where schema.graphql is. */
  schema: URL;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resolvers: GraphQLResolverMap<any>;
  loadConfig: (env: NodeJS.ProcessEnv) => Config;
  database: {
    migrations: MigrationObject[];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    entities?: any[];
    poolSize?: number;
  };
  /** False for a subgraph that records no events: no outbox relay runs. */
  outbox?: boolean;
  setup: (runtime: SubgraphRuntime<Config>) => Promise<SubgraphWiring<Ctx>> | SubgraphWiring<Ctx>;
}

/**
 * A subgraph's module from what makes it that context. The runtime does the wiring every
 * subgraph shares: configuration, logger, messaging, database and migrations, token verifier,
 * outbox relay, event consumer, the HTTP server with health and readiness, and a stop() that
 * closes it all in reverse order.
 */
export function defineSubgraph<Config extends SubgraphRuntimeConfig, Ctx extends BaseRequestContext>(
  definition: SubgraphDefinition<Config, Ctx>,
): SubgraphModule {
  const { sdl, typeDefs } = loadSchemaFile(definition.schema);
  const { name } = definition;

  async function start(options: SubgraphStartOptions) {
    const config = definition.loadConfig(options.env);
    const log = options.log ?? createLogger(name, config.LOG_LEVEL);
    const infra = options.infra ?? createInfra({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
    const orm = await openDatabase({
      url: config.DATABASE_URL,
      schema: name,
      entities: definition.database.entities ?? [],
      migrations: definition.database.migrations,
      log,
      ...(definition.database.poolSize ? { poolSize: definition.database.poolSize } : {}),
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
    const relay = definition.outbox === false ? null : new OutboxRelay(orm, infra.transport, log, { intervalMs: config.OUTBOX_RELAY_INTERVAL_MS });
    const projections = new ProjectionWaits({ group: name, timeoutMs: config.PROJECTION_WAIT_MS, live: infra.live, log });
    const onEventsCommitted = (events: readonly EventEnvelope[]) => {
      relay?.kick();
      return noteChanged(
        events.flatMap((e) => eventCacheTags(e.payload)),
        infra.cacheInvalidations,
        log,
      );
    };
    const persistence = openPersistence(orm, {
      source: name,
      onEventsCommitted,
      onChanged: (tags) => noteChanged(tags, infra.cacheInvalidations, log),
      onQuery: options.onQuery,
    });
    const wiring = await definition.setup({
      config,
      log,
      infra,
      orm,
      env: options.env,
      onQuery: options.onQuery,
      onEventsCommitted,
      projections,
      persistence,
    });
    const verifier = wiring.verifier ?? (await verifierFromConfig(config, infra.revocations));
    await waitForRevocations(infra.revocations, log);
    relay?.start();
    const consumer = wiring.handlers
      ? startConsumer({
          orm,
          transport: infra.transport,
          group: name,
          handlers: wiring.handlers,
          log,
          projections,
          // What a handled event changed here is purged once its projection committed.
          afterCommit: (envelope) => {
            void noteChanged(eventCacheTags(envelope.payload), infra.cacheInvalidations, log);
            wiring.afterCommit?.(envelope);
          },
        })
      : null;
    // Run alone, this subgraph's consumer is the process's only one; a shared infra's owner says so itself.
    if (!options.infra) infra.transport.consumersStarted?.();
    const background = wiring.background?.();

    const server = await startSubgraphServer<Ctx>({
      name,
      port: options.port ?? config.PORT,
      host: config.HOST,
      typeDefs,
      resolvers: definition.resolvers,
      verifier,
      log,
      introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
      hideSchemaDetails: config.NODE_ENV === 'production',
      metrics: metricsAccess(config),
      context: (base) => wiring.context({ ...base, em: lazyFork(orm) }),
      ...(wiring.routes ? { routes: wiring.routes } : {}),
      trustedProxies: parseTrustedProxies(config.TRUSTED_PROXIES),
      cacheInvalidations: infra.cacheInvalidations,
      // A query, not isConnected(): the pool opens on first use, and a subgraph that records no
      // events (no relay polling) may not have used it yet.
      ready: async () => {
        await orm.em.getConnection().execute('select 1');
        return true;
      },
    });

    return {
      name,
      url: server.url,
      port: server.port,
      ...(server.metricsPort !== undefined ? { metricsPort: server.metricsPort } : {}),
      stop: async () => {
        await server.stop();
        await background?.stop();
        await consumer?.stop();
        await projections.close();
        await relay?.stop();
        await wiring.stop?.();
        if (!options.infra) await infra.close();
        await orm.close();
      },
    };
  }

  return { name, defaultPort: definition.defaultPort, sdl, typeDefs, start, checkConfig: (env) => void definition.loadConfig(env) };
}

/**
 * A request's EntityManager fork, made the first time something of it is used: most requests
 * (every context reads through the persistence kernel) never touch it, and a fork costs an
 * EntityManager with its identity map and unit of work per request.
 */
function lazyFork(orm: MikroORM): EntityManager {
  let forked: EntityManager | undefined;
  const em = () => (forked ??= orm.em.fork());
  return new Proxy({} as EntityManager, {
    get: (_target, key) => {
      const value: unknown = Reflect.get(em(), key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(em()) : value;
    },
    set: (_target, key, value) => Reflect.set(em(), key, value),
    has: (_target, key) => Reflect.has(em(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(em()),
  });
}
