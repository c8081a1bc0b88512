/**
 * Cache hints in a subgraph's SDL and what a subgraph tells the gateway's entity cache.
 *
 * - `@cacheControl(maxAge, scope, inheritMaxAge)` marks what may be cached and for how long, as
 *   Apollo Server's cache-control plugin reads it: every field of an answer must allow it, so an
 *   answer is cacheable only when all of it is. The subgraph answers with `Cache-Control:
 *   max-age=N, public|private` or `no-store`. PRIVATE answers are cached only for the principal
 *   who received them.
 * - The answer to a query that may be cached carries `extensions.cacheTags`: the `Type:id` of each
 *   entity it shows (an entity type's `id` field, or a field that takes the `id` of the entity it
 *   returns), per `_entities` position or for the whole answer.
 * - Any answer after which something changed (an event committed during the request, or a
 *   mutation) first purges the changed entities' tags (CacheInvalidations), then names them in
 *   `extensions.invalidatedTags`, so the gateway that relays it drops its own copies before the
 *   client reads the answer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { maybeCacheControlFromInfo } from '@apollo/cache-control-types';
import { Kind, getNamedType, parse, visit, type DocumentNode, type GraphQLResolveInfo } from 'graphql';
import type { Principal } from '../auth.ts';
import type { Logger } from '../logger.ts';
import type { CacheInvalidations } from './invalidations.ts';
import { entityTag, type CacheTag } from './tags.ts';

const DEFINITIONS = parse(`
  "Who may share a cached answer: everyone (PUBLIC) or only the principal who received it (PRIVATE)."
  enum CacheControlScope {
    "Shared by every caller."
    PUBLIC
    "Only for the principal who received it."
    PRIVATE
  }
  directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
`);

/** A subgraph's typeDefs with `@cacheControl` and its scope enum defined (schema.graphql only uses them). */
export function withCacheControlDefinitions(typeDefs: DocumentNode): DocumentNode {
  return { ...typeDefs, definitions: [...typeDefs.definitions, ...DEFINITIONS.definitions] };
}

/**
 * The typeDefs without `@cacheControl`, for composition: hints are the subgraph's answer to the
 * gateway at run time (its Cache-Control header), not part of the supergraph or the API schema.
 */
export function withoutCacheControl(typeDefs: DocumentNode): DocumentNode {
  return visit(typeDefs, {
    Directive: (node) => (node.name.value === 'cacheControl' ? null : undefined),
  });
}

/** The entity types of a subgraph's SDL (those with `@key`). */
export function entityTypesOf(typeDefs: DocumentNode): Set<string> {
  const types = new Set<string>();
  for (const definition of typeDefs.definitions) {
    if (
      (definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION) &&
      definition.directives?.some((d) => d.name.value === 'key')
    ) {
      types.add(definition.name.value);
    }
  }
  return types;
}

export interface CacheTagsExtension {
  /** Tags of a root query's whole answer. */
  root?: CacheTag[];
  /** Tags per `_entities` position. */
  entities?: Record<number, CacheTag[]>;
}

/** Changes committed while a request runs, purged (with the request's own) before it answers. */
interface RequestChanges {
  tags: Set<CacheTag>;
  /** Purges under way, awaited before the answer. */
  pending: Promise<void>[];
}

const requestChanges = new AsyncLocalStorage<RequestChanges>();

/** Runs one GraphQL request with a place to note what its use cases changed. */
export function withRequestChanges<T>(work: () => T): T {
  return requestChanges.run({ tags: new Set(), pending: [] }, work);
}

/**
 * Notes that entities changed (a transaction committed) and purges them now. Resolves once the
 * purge is done (await it before announcing the change, e.g. a live event, so no subscriber reads
 * the old value); it never rejects. Inside a request, the request also waits for it and names the
 * tags in its answer.
 */
export function noteChanged(tags: readonly CacheTag[], invalidations: CacheInvalidations, log: Logger): Promise<void> {
  if (tags.length === 0) return Promise.resolve();
  const purge = purgeNow(tags, invalidations, log);
  const changes = requestChanges.getStore();
  if (changes) {
    for (const tag of tags) changes.tags.add(tag);
    changes.pending.push(purge);
  }
  return purge;
}

/** Purges `tags`; a failure is logged, never thrown (entries then expire at their max age). */
function purgeNow(tags: readonly CacheTag[], invalidations: CacheInvalidations, log: Logger): Promise<void> {
  if (tags.length === 0) return Promise.resolve();
  return invalidations.invalidate(tags).catch((error: unknown) => log.warn({ err: error, tags }, 'cache invalidation failed; entries expire at their max age'));
}

/**
 * The answer depends on who asks (a draft only its artist sees): if cached at all, then only for
 * that principal. Call it from the resolver that looked at the viewer.
 */
export function privateToViewer(info: GraphQLResolveInfo): void {
  maybeCacheControlFromInfo(info)?.cacheHint.restrict({ scope: 'PRIVATE' });
}

/** The field's value is good for at most `seconds` (a signed URL that expires). */
export function validFor(info: GraphQLResolveInfo, seconds: number): void {
  maybeCacheControlFromInfo(info)?.cacheHint.restrict({ maxAge: Math.max(0, Math.floor(seconds)) });
}

/** `_entities` position of a field's path, or -1 outside an entity fetch. */
function entityPosition(path: GraphQLResolveInfo['path']): number {
  let node = path;
  let child: GraphQLResolveInfo['path'] | undefined;
  while (node.prev) {
    child = node;
    node = node.prev;
  }
  return node.key === '_entities' && child && typeof child.key === 'number' ? child.key : -1;
}

class TagCollector {
  readonly root = new Set<CacheTag>();
  readonly entities = new Map<number, Set<CacheTag>>();

  add(position: number, tag: CacheTag): void {
    if (position < 0) {
      this.root.add(tag);
      return;
    }
    let tags = this.entities.get(position);
    if (!tags) this.entities.set(position, (tags = new Set()));
    tags.add(tag);
  }

  all(): Set<CacheTag> {
    const all = new Set(this.root);
    for (const tags of this.entities.values()) for (const tag of tags) all.add(tag);
    return all;
  }
}

export function cacheTagsPlugin<Ctx extends BaseContext & { principal: Principal | null }>(options: {
  entityTypes: ReadonlySet<string>;
  invalidations: CacheInvalidations;
  log: Logger;
}): ApolloServerPlugin<Ctx> {
  const { entityTypes, invalidations, log } = options;
  return {
    async requestDidStart() {
      const collector = new TagCollector();
      return {
        async executionDidStart() {
          return {
            willResolveField({ info, args }) {
              if (info.fieldName === 'id' && entityTypes.has(info.parentType.name)) {
                const type = info.parentType.name;
                return (error, result) => {
                  if (!error && (typeof result === 'string' || typeof result === 'number'))
                    collector.add(entityPosition(info.path), entityTag(type, String(result)));
                };
              }
              const id = (args as { id?: unknown }).id;
              if (typeof id === 'string') {
                const returned = getNamedType(info.returnType).name;
                if (entityTypes.has(returned)) collector.add(entityPosition(info.path), entityTag(returned, id));
              }
              return undefined;
            },
          };
        },
        async willSendResponse(requestContext) {
          const { response } = requestContext;
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const changes = requestChanges.getStore();
          const changed = new Set(changes?.tags ?? []);
          const more: CacheTag[] = [];
          if (requestContext.operation?.operation === 'mutation') {
            const principal = requestContext.contextValue.principal;
            for (const tag of [...collector.all(), ...(principal ? [entityTag('User', principal.userId)] : [])]) {
              if (!changed.has(tag)) more.push(tag);
              changed.add(tag);
            }
          }
          if (changed.size > 0) {
            await Promise.all([...(changes?.pending ?? []), purgeNow(more, invalidations, log)]);
            result.extensions = { ...result.extensions, invalidatedTags: [...changed] };
            return;
          }
          if (requestContext.operation?.operation !== 'query' || !requestContext.overallCachePolicy.policyIfCacheable()) return;
          const extension: CacheTagsExtension = {};
          if (collector.root.size > 0) extension.root = [...collector.root];
          if (collector.entities.size > 0) extension.entities = Object.fromEntries([...collector.entities].map(([i, tags]) => [i, [...tags]]));
          result.extensions = { ...result.extensions, cacheTags: extension };
        },
      };
    },
  };
}
