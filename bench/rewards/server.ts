/**
 * One server of the rewards benchmark, run as its own child process by run.ts: the identity,
 * catalog or rewards subgraph, or our gateway. The protocol with run.ts is bench/lib
 * (protocol.ts; serveChild in child.ts). The rewards process holds its own ProofVerifierPool
 * (VERIFIER_THREADS worker threads), as in production.
 */
import { serveChild, type RunningRole } from '../lib/child.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'identity' | 'catalog' | 'rewards' | 'gateway';

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'identity': {
      const { identitySubgraph } = await import('@vibestream/identity');
      const running = await identitySubgraph.start({ env, port: 0 });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
    case 'catalog': {
      const { catalogSubgraph } = await import('@vibestream/catalog');
      const running = await catalogSubgraph.start({ env, port: 0 });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
    case 'rewards': {
      const { rewardsSubgraph } = await import('@vibestream/rewards');
      const running = await rewardsSubgraph.start({ env, port: 0 });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
    case 'gateway': {
      const { startGateway } = await import('@vibestream/gateway');
      const running = await startGateway({ env, supergraphSdl: message.supergraphSdl!, port: message.port ?? 0 });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
  }
}

serveChild(startRole);
