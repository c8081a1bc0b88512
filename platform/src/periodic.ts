import type { Logger } from './logger.ts';

/** A background task started by `startPeriodic`. */
export interface PeriodicTask {
  /** Clears the timer and waits for the tick in progress, if any, to settle. */
  stop(): Promise<void>;
}

export interface PeriodicOptions {
  intervalMs: number;
  log: Logger;
  /** The message logged (at error, with the error as `err`) when a tick fails. */
  failureMessage: string;
}

/**
 * Runs `tick` at once and then every `intervalMs`, never two at once (a tick still running when the
 * timer fires again is not overlapped: that firing is skipped). A failed tick is logged and the
 * next one runs as usual. The timer does not keep the process alive.
 */
export function startPeriodic(tick: () => Promise<unknown>, { intervalMs, log, failureMessage }: PeriodicOptions): PeriodicTask {
  let running: Promise<void> | null = null;
  const fire = () => {
    if (running) return;
    running = tick()
      .then(() => undefined)
      .catch((error: unknown) => log.error({ err: error }, failureMessage))
      .finally(() => {
        running = null;
      });
  };
  fire();
  const timer = setInterval(fire, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
