/** The event loop of the process it runs in, read and reset by the `loop`/`resetLoop` calls of server.ts and clients.ts. */
import { monitorEventLoopDelay, performance as perf, type EventLoopUtilization } from 'node:perf_hooks';

/** What the `loop` call answers: the event loop since `resetLoop`. */
export interface LoopLog {
  /** Share of the time the event loop was busy (0..1). */
  utilization: number;
  /** How late timers ran (ms): how long a ready callback waited for the loop. */
  delayP50: number;
  delayP99: number;
  delayMax: number;
}

export function watchLoop() {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let since: EventLoopUtilization = perf.eventLoopUtilization();
  return {
    read: (): LoopLog => ({
      utilization: perf.eventLoopUtilization(since).utilization,
      delayP50: delay.percentile(50) / 1e6,
      delayP99: delay.percentile(99) / 1e6,
      delayMax: delay.max / 1e6,
    }),
    reset: () => {
      delay.reset();
      since = perf.eventLoopUtilization();
    },
  };
}
