import type { GraphQLResolveInfo } from 'graphql';
import { idOrNull } from './ids.ts';

/** An entity representation as the gateway sends it; its fields are whatever the caller wrote. */
export interface Representation {
  readonly id?: unknown;
}

export type ReferenceResolver<Ctx, T> = (reference: Representation, ctx: Ctx, info: GraphQLResolveInfo) => T | null | Promise<T | null>;

/**
 * The `__resolveReference` of an entity keyed by `id` (every entity of the graph is): a
 * representation whose id is not an id resolves to null without calling `resolve`, so without a
 * database round trip. What `resolve` throws, synchronously or not, comes back as a rejected
 * promise that already has a handler: @apollo/subgraph resolves a batch of representations with a
 * synchronous map, and when one throws, the promises of those before it are never awaited.
 */
export function referenceById<Ctx, T>(resolve: (id: string, ctx: Ctx, info: GraphQLResolveInfo) => T | null | Promise<T | null>): ReferenceResolver<Ctx, T> {
  return (reference, ctx, info) => {
    const id = idOrNull(reference.id);
    if (id === null) return null;
    return observed(() => resolve(id, ctx, info));
  };
}

/** An entity another context owns, known here only by its key. */
export const keyOnlyReference: ReferenceResolver<unknown, { id: string }> = referenceById((id) => ({ id }));

/** Runs `fn`; a throw becomes a rejected promise, and a promise gets a handler so dropping it cannot end the process. */
export function observed<T>(fn: () => T | Promise<T>): T | Promise<T> {
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (error) {
    result = Promise.reject(error);
  }
  // Whoever awaits the promise still sees its rejection; this only marks it as handled.
  if (result instanceof Promise) result.catch(() => undefined);
  return result;
}
