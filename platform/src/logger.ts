import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';

export type { Logger };

interface RequestScope {
  requestId: string;
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` with a request id that every log line written inside it carries. */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestScope.run({ requestId: requestId || randomUUID() }, fn);
}

/** Runs `fn` outside any request scope (for background work started from a request). */
export function outsideRequest<T>(fn: () => T): T {
  return requestScope.exit(fn);
}

export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

export const REQUEST_ID_HEADER = 'x-request-id';

/** Paths redacted from every log line: secrets never reach the logs. */
const redact = [
  'password',
  '*.password',
  'token',
  '*.token',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  'secret',
  '*.secret',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: redact, censor: '[redacted]' },
    mixin() {
      const scope = requestScope.getStore();
      return scope ? { requestId: scope.requestId } : {};
    },
  });
}
