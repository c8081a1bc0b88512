import { Counter } from 'prom-client';
import type { Logger } from './logger.ts';

/** Faults nothing handled, by kind; shown on every /metrics of the process (see processMetrics, the gateway's metrics). */
export const unhandledErrors = new Counter({
  name: 'vibestream_unhandled_errors_total',
  help: 'Promise rejections nothing handled (kind=rejection) and exceptions nothing caught (kind=exception); each was logged and the process kept serving',
  labelNames: ['kind'] as const,
  registers: [],
});

let installed = false;

/**
 * What a process does with a fault nothing handled: an unhandled promise rejection or an
 * uncaught exception is logged at error level (with the request id when it happened inside a
 * request: Node runs these handlers in the async context of the failing code), counted in
 * `vibestream_unhandled_errors_total`, and the process keeps serving.
 *
 * Keeping on is the choice because exiting would let one request take a process down, and under
 * `npm start` one process is every context and the gateway. What such a fault abandons is one
 * piece of one request's work: state lives in PostgreSQL and Redis, changed in transactions that
 * roll back when their code stops. The counter is what should page someone. Idempotent; answers
 * a function that removes the handlers (for tests).
 */
export function keepServingThroughFaults(log: Logger): () => void {
  if (installed) return () => undefined;
  installed = true;
  const report = (kind: 'rejection' | 'exception', error: unknown) => {
    unhandledErrors.inc({ kind });
    log.error({ err: error, kind }, kind === 'rejection' ? 'unhandled promise rejection; serving on' : 'uncaught exception; serving on');
  };
  const onRejection = (reason: unknown) => report('rejection', reason);
  const onException = (error: Error) => report('exception', error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
    installed = false;
  };
}
