/**
 * One server of the subscriptions benchmark, run as its own child process by run.ts: the
 * identity, catalog or ownership subgraph, or our gateway. The protocol with run.ts is bench/lib
 * (protocol.ts; serveChild in child.ts).
 *
 * The gateway answers the calls:
 *   lookups       supergraph lookups its subscription server has made (SharedLookups)
 *   connections   open WebSocket connections
 *   loop          its event loop since `resetLoop` (LoopLog)
 *   profileStart  starts the V8 CPU profiler in the process (node:inspector)
 *   profileStop   stops it and writes the profile to the file named by the argument
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startGatewayRole, startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';
import { watchLoop } from './loop.ts';

export type { LoopLog } from './loop.ts';

export type Role = 'identity' | 'catalog' | 'ownership' | 'gateway';

/** The V8 sampling profiler of this process, started and stopped on request. */
function profiler() {
  let session: Session | null = null;
  return {
    start: async () => {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
      return true;
    },
    stop: async (file: unknown) => {
      if (!session) throw new Error('the profiler is not running');
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = null;
      await writeFile(String(file), JSON.stringify(profile));
      return String(file);
    },
  };
}

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'identity':
      return startSubgraphRole('identity', { env });
    case 'catalog':
      return startSubgraphRole('catalog', { env });
    case 'ownership':
      return startSubgraphRole('ownership', { env });
    case 'gateway': {
      const loop = watchLoop();
      const prof = profiler();
      const running = await startGatewayRole(message);
      return {
        url: running.url,
        stop: running.stop,
        calls: {
          lookups: () => running.subscriptions.lookups(),
          connections: () => running.subscriptions.connections(),
          loop: () => loop.read(),
          resetLoop: () => loop.reset(),
          profileStart: () => prof.start(),
          profileStop: (file) => prof.stop(file),
        },
      };
    }
  }
}

serveChild(startRole);
