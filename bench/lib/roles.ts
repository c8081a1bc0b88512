/** The roles most benchmark children play: a subgraph of the registry, or our gateway. */
import type { SubgraphStartOptions } from '@vibestream/platform';
import type { RunningRole } from './child.ts';
import type { StartMessage } from './protocol.ts';

const urlOf = (port: number) => `http://127.0.0.1:${port}/graphql`;

/** Starts the subgraph named `name` (subgraphs/index.ts) on a free port. */
export async function startSubgraphRole(name: string, options: SubgraphStartOptions): Promise<RunningRole & { port: number }> {
  const { subgraphs } = await import('../../subgraphs/index.ts');
  const subgraph = subgraphs.find((s) => s.name === name);
  if (!subgraph) throw new Error(`no subgraph named ${name}`);
  const running = await subgraph.start({ port: 0, ...options });
  return { url: urlOf(running.port), port: running.port, stop: running.stop };
}

/** Starts our gateway on the message's supergraph and port. */
export async function startGatewayRole(message: StartMessage<string>) {
  const { startGateway } = await import('@vibestream/gateway');
  const running = await startGateway({ env: message.env, supergraphSdl: message.supergraphSdl!, port: message.port ?? 0 });
  return { ...running, url: urlOf(running.port) };
}
