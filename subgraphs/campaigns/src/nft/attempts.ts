/** What the chain sagas (collection deployments, mints) share. */

/** Runs one attempt per key at a time in this process: a caller that finds one running gets its answer. */
export class InFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, attempt: () => Promise<T>): Promise<T> {
    const running = this.running.get(key);
    if (running) return running;
    const started = attempt().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}

/** A chain failure as recorded in a row's error column for the next attempt. */
export function failureMessage(error: unknown): string {
  return String((error as Error)?.message ?? error).slice(0, 500);
}
