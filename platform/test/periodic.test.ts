import { describe, expect, it, vi } from 'vitest';
import { createLogger, startPeriodic } from '@vibestream/platform';

const silent = () => createLogger('periodic-test', 'silent');

describe('startPeriodic', () => {
  it('runs at once and then every interval, never two ticks at once', async () => {
    vi.useFakeTimers();
    try {
      let release!: () => void;
      const tick = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
      const task = startPeriodic(tick, { intervalMs: 100, log: silent(), failureMessage: 'failed' });
      expect(tick).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(350);
      expect(tick).toHaveBeenCalledTimes(1); // the first tick is still running
      release();
      await vi.advanceTimersByTimeAsync(100);
      expect(tick).toHaveBeenCalledTimes(2);
      release();
      await task.stop();
      await vi.advanceTimersByTimeAsync(500);
      expect(tick).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('logs a failed tick and keeps going', async () => {
    vi.useFakeTimers();
    try {
      const log = silent();
      const error = vi.spyOn(log, 'error');
      const failure = new Error('boom');
      const tick = vi.fn().mockRejectedValueOnce(failure).mockResolvedValue(undefined);
      const task = startPeriodic(tick, { intervalMs: 100, log, failureMessage: 'the tick failed' });
      await vi.advanceTimersByTimeAsync(0);
      expect(error).toHaveBeenCalledWith({ err: failure }, 'the tick failed');
      await vi.advanceTimersByTimeAsync(100);
      expect(tick).toHaveBeenCalledTimes(2);
      await task.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('stop() waits for the tick in progress', async () => {
    let release!: () => void;
    let done = false;
    const task = startPeriodic(
      () =>
        new Promise<void>((resolve) => (release = resolve)).then(() => {
          done = true;
        }),
      { intervalMs: 60_000, log: silent(), failureMessage: 'failed' },
    );
    const stopped = task.stop();
    release();
    await stopped;
    expect(done).toBe(true);
  });
});
