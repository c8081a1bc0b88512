/**
 * One server of the subgraph benchmark, run as its own child process by run.ts: the identity,
 * catalog or ownership subgraph. The protocol with
 * run.ts is bench/lib (protocol.ts; serveChild in child.ts).
 *
 * A subgraph is taken from the checkout named by BENCH_SUBGRAPHS_ROOT in the start message's
 * environment (run.ts --compare: another commit's code on the same database), else from this one.
 * The calls `profileStart` and `profileStop` (with a file path) record a V8 CPU profile of the
 * measured stretches only, through the inspector, and write it as a .cpuprofile file.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SubgraphModule } from '@vibestream/platform';
import { serveChild, type RunningRole } from '../lib/child.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'identity' | 'catalog' | 'ownership';

function profiler() {
  let session: Session | null = null;
  return {
    profileStart: async () => {
      if (session) return;
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    },
    profileStop: async (path: unknown) => {
      if (!session) return null;
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = null;
      await writeFile(String(path), JSON.stringify(profile));
      return String(path);
    },
  };
}

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  const root = env.BENCH_SUBGRAPHS_ROOT;
  const index = root ? pathToFileURL(join(root, 'subgraphs/index.ts')).href : new URL('../../subgraphs/index.ts', import.meta.url).href;
  const { subgraphs } = (await import(index)) as { subgraphs: SubgraphModule[] };
  const subgraph = subgraphs.find((s) => s.name === message.role);
  if (!subgraph) throw new Error(`no subgraph named ${message.role}`);
  const running = await subgraph.start({ env, port: 0 });
  return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop, calls: profiler() };
}

serveChild(startRole);
