export * from './addresses.ts';
export * from './auth.ts';
export * from './config.ts';
export * from './config-reference.ts';
export * from './db.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './infra.ts';
export * from './live.ts';
export * from './local-server.ts';
export * from './logger.ts';
export * from './rate-limit.ts';
export * from './redis.ts';
export * from './session-revocations.ts';
export * from './runtime.ts';
export * from './startup.ts';
export * from './subgraph.ts';
export * from './subgraph-server.ts';
export * from './pagination.ts';
export * from './periodic.ts';
export * from './ids.ts';
export * from './entities.ts';
export * from './references.ts';
export * from './events/contract.ts';
export * from './events/outbox.ts';
export * from './persistence/index.ts';
export * from './events/relay.ts';
export * from './events/consumer.ts';
export * from './events/projection-waits.ts';
export * from './events/transport.ts';
export * from './events/memory-transport.ts';
export * from './events/redis-transport.ts';
export { OutboxEventEntity, HandledEventEntity } from './events/tables.ts';
export * from './compose.ts';
export * from './cost-directives.ts';
export * from './scalars.ts';
export * from './telemetry.ts';
export * from './metrics-endpoint.ts';
export * from './process-faults.ts';
export * from './subgraph-runtime.ts';
export { nulCharacterInput, textInputPlugin } from './text-input.ts';
export * from './cache/tags.ts';
export * from './cache/invalidations.ts';
export {
  cacheTagsPlugin,
  privateToViewer,
  validFor,
  entityTypesOf,
  noteChanged,
  withCacheControlDefinitions,
  withoutCacheControl,
  withRequestChanges,
  type CacheTagsExtension,
} from './cache/hints.ts';
export * from './jobs/index.ts';
export * from './mail/config.ts';
export * from './mail/mailer.ts';
export * from './mail/render.ts';
