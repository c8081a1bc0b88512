/**
 * One server of the rewards benchmark, run as its own child process by run.ts: the identity,
 * catalog or rewards subgraph, or our gateway. The protocol with run.ts is bench/lib
 * (protocol.ts; serveChild in child.ts). The rewards process holds its own ProofVerifierPool
 * (VERIFIER_THREADS worker threads), as in production.
 */
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startGatewayRole, startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'identity' | 'catalog' | 'rewards' | 'gateway';

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'identity':
      return startSubgraphRole('identity', { env });
    case 'catalog':
      return startSubgraphRole('catalog', { env });
    case 'rewards':
      return startSubgraphRole('rewards', { env });
    case 'gateway':
      return startGatewayRole(message);
  }
}

serveChild(startRole);
