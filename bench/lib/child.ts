/**
 * The child side of the server protocol (protocol.ts): a benchmark's server.ts calls
 * serveChild() with a function that starts one role.
 *
 * The parent sends { type: 'start', role, env, supergraphSdl?, port? } (env gets HOST=127.0.0.1
 * unless it names another HOST, and is copied into process.env); the child answers
 * { type: 'ready', role, url, pid } (or { type: 'failed', error }). { type: 'call', id, name, arg }
 * runs one of the running role's `calls` and answers { type: 'reply', id, value | error }.
 * On { type: 'stop' } the child shuts down and exits. It also exits when the parent goes away.
 */
import type { CallMessage, ChildMessage, ParentMessage, StartMessage } from './protocol.ts';

export interface RunningRole {
  url: string;
  stop(): Promise<void>;
  /** Named requests the parent may make while the server runs. */
  calls?: Record<string, (arg: unknown) => unknown>;
}

export function serveChild<R extends string>(startRole: (message: StartMessage<R>) => Promise<RunningRole>): void {
  let running: RunningRole | null = null;
  let stopping = false;
  const send = (message: ChildMessage<R>) => process.send?.(message);

  async function shutdown(code: number): Promise<never> {
    if (!stopping) {
      stopping = true;
      const timer = setTimeout(() => process.exit(code), 10_000);
      timer.unref();
      await running?.stop().catch(() => undefined);
    }
    process.exit(code);
  }

  async function call(message: CallMessage): Promise<void> {
    const fn = running?.calls?.[message.name];
    if (!fn) return void send({ type: 'reply', id: message.id, error: `no call ${message.name}` });
    try {
      send({ type: 'reply', id: message.id, value: await fn(message.arg) });
    } catch (error) {
      send({ type: 'reply', id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  }

  process.on('message', (raw: unknown) => {
    const message = raw as ParentMessage<R>;
    if (message.type === 'stop') return void shutdown(0);
    if (message.type === 'call') return void call(message);
    if (message.type !== 'start') return;
    // Servers listen on loopback only; settings read from process.env see the same values.
    const env = { ...message.env, HOST: message.env.HOST ?? '127.0.0.1' };
    Object.assign(process.env, env);
    startRole({ ...message, env }).then(
      (r) => {
        running = r;
        send({ type: 'ready', role: message.role, url: r.url, pid: process.pid });
      },
      (error: unknown) => {
        send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
        void shutdown(1);
      },
    );
  });
  // The parent died or closed the channel: do not linger.
  process.on('disconnect', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
}
