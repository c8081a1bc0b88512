/**
 * The parent side of the server protocol (protocol.ts): starts server child processes, makes
 * calls to them and stops them all at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ChildMessage, ServerTarget, StartMessage } from './protocol.ts';

export interface ChildServer<R extends string = string> extends ServerTarget<R> {
  /** Runs one of the role's named calls in the child and resolves with its answer. */
  call<T = unknown>(name: string, arg?: unknown): Promise<T>;
}

const children = new Set<ChildProcess>();

/**
 * Forks `script` (a server.ts that calls serveChild) and starts `role` in it. The child gets
 * this process's environment plus APOLLO_TELEMETRY_DISABLED and the LOG_LEVEL of `message.env`;
 * everything else it needs travels in the start message.
 */
export function startChild<R extends string>(
  script: string,
  message: Omit<StartMessage<R>, 'type'>,
  options: { execArgv?: string[]; startTimeoutMs?: number } = {},
): Promise<ChildServer<R>> {
  const { role } = message;
  const child = fork(script, [], {
    execArgv: options.execArgv ?? [...process.execArgv],
    env: { ...process.env, APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: message.env.LOG_LEVEL },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  child.once('exit', (code) => {
    children.delete(child);
    for (const p of pending.values()) p.reject(new Error(`${role} exited (code ${code})`));
    pending.clear();
  });
  child.on('message', (m: ChildMessage<R>) => {
    if (m.type !== 'reply') return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(`${role}: ${m.error}`));
    else p?.resolve(m.value);
  });
  const call = <T>(name: string, arg?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error(`${role} is not running`));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ type: 'call', id, name, arg });
    });

  return new Promise((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const timer = setTimeout(() => reject(new Error(`${role} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    child.on('message', (m: ChildMessage<R>) => {
      if (m.type === 'reply') return;
      clearTimeout(timer);
      if (m.type === 'ready') resolve({ role: m.role, url: m.url, pid: m.pid, call });
      else reject(new Error(`${role} failed to start:\n${m.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (code ${code}) before it was ready`));
    });
    child.send({ type: 'start', ...message });
  });
}

/** Asks every child still running to stop (SIGKILL after 10 s) and waits for them to exit. */
export async function stopChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (child.connected) child.send({ type: 'stop' });
          else child.kill('SIGTERM');
        }),
    ),
  );
}
