import { AsyncLocalStorage } from 'node:async_hooks';

// Taken when this module is first loaded, at start-up, before any request, transaction or span.
const rootContext = AsyncLocalStorage.snapshot();

/**
 * Runs `fn`, and whatever it starts, in the process's root async context: none of the caller's
 * async-local state reaches it. Work one context starts on behalf of another (the in-process bus
 * delivering an event, the relay's timers) must not run inside the caller's MikroORM transaction
 * or request context, which every ORM of the process would resolve to, nor carry its request id.
 */
export function detached<T>(fn: () => T): T {
  return rootContext(fn);
}
