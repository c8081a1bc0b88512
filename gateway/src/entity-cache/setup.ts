import type { Counter } from 'prom-client';
import { RedisCacheInvalidations, SharedEntries, createRedis, type CacheInvalidations, type Logger } from '@vibestream/platform';
import type { GatewayConfig } from '../config.ts';
import { EntityCache, type ChangeClock } from './entity-cache.ts';

/**
 * The gateway's entity cache as its configuration asks: on by default, in memory, shared through
 * Redis when REDIS_URL is set. `invalidations` is the process's own when subgraphs run in it
 * (npm start); otherwise changes arrive through Redis, and without Redis the cache stays off.
 */
export async function startEntityCache(options: {
  config: GatewayConfig;
  invalidations: CacheInvalidations | undefined;
  log: Logger;
  counter: Counter<'subgraph' | 'result'>;
  changes: ChangeClock;
}): Promise<{ cache: EntityCache; stop(): Promise<void> } | null> {
  const { config, log, counter } = options;
  if (config.GATEWAY_ENTITY_CACHE === 'off') return null;
  if (!options.invalidations && !config.REDIS_URL) {
    log.info('entity cache off: without REDIS_URL this gateway cannot hear the subgraphs’ changes');
    return null;
  }
  // Its own connection: no offline queue and a short timeout, so a Redis outage is a miss at once, not a wait.
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, { enableOfflineQueue: false, commandTimeout: 250, maxRetriesPerRequest: 0 }) : null;
  redis?.on('error', (error: Error) => log.debug({ err: error.message }, 'entity cache redis connection error'));
  // Changes arrive on a connection of their own that reconnects and resubscribes by itself.
  const invalidationsRedis = options.invalidations ? null : createRedis(config.REDIS_URL!);
  invalidationsRedis?.on('error', (error: Error) => log.debug({ err: error.message }, 'entity cache invalidations redis connection error'));
  const invalidations = options.invalidations ?? new RedisCacheInvalidations(invalidationsRedis!, config.REDIS_PREFIX, log);
  const cache = new EntityCache({
    maxBytes: config.ENTITY_CACHE_MAX_BYTES,
    maxTtlSeconds: config.ENTITY_CACHE_MAX_TTL_SECONDS,
    shared: redis ? new SharedEntries(redis, config.REDIS_PREFIX) : null,
    invalidations,
    log,
    changes: options.changes,
    counts: {
      hit: (where, subgraph) => counter.inc({ subgraph, result: `hit_${where}` }),
      miss: (subgraph) => counter.inc({ subgraph, result: 'miss' }),
      stored: (subgraph) => counter.inc({ subgraph, result: 'stored' }),
      purged: (entries) => counter.inc({ subgraph: '', result: 'purged' }, entries),
    },
  });
  await cache.start();
  return {
    cache,
    stop: async () => {
      await cache.stop();
      if (!options.invalidations) await invalidations.close();
      invalidationsRedis?.disconnect();
      redis?.disconnect();
    },
  };
}
