/**
 * One server of the gateway benchmarks, run as its own child process by me.ts or operations.ts
 * (so the load generator, the gateways and the subgraphs never share an event loop). The protocol
 * with them is bench/lib (protocol.ts; serveChild in child.ts).
 *
 * Roles: `subgraph` (identity, for the me bench) or any subgraph by its name (subgraphs/index.ts);
 * `gateway` and, for operations.ts, `gateway-cache-on` / `gateway-cache-off` (our gateway; the
 * entity cache is switched by GATEWAY_ENTITY_CACHE in the env the parent sends, the role name only
 * tells the processes apart, e.g. for --cpu-prof); `gateway-nomerge` (in-flight merging off);
 * `stock` (ApolloServer + ApolloGateway).
 */
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';
import { subgraphs } from '../../subgraphs/index.ts';

/** Every subgraph of the registry: the whole graph, whatever contexts it has. */
export const SUBGRAPH_ROLES: readonly string[] = subgraphs.map((s) => s.name);
export type SubgraphRole = string;
export type Role = 'subgraph' | 'gateway' | 'gateway-nomerge' | 'gateway-cache-on' | 'gateway-cache-off' | 'stock' | SubgraphRole;

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  if (SUBGRAPH_ROLES.includes(message.role)) return startSubgraphRole(message.role, { env });
  switch (message.role) {
    case 'subgraph':
      return startSubgraphRole('identity', { env });
    case 'gateway':
    case 'gateway-cache-on':
    case 'gateway-cache-off':
    case 'gateway-nomerge': {
      const { startGateway } = await import('@vibestream/gateway');
      const running = await startGateway({
        env,
        supergraphSdl: message.supergraphSdl!,
        port: 0,
        // The control: our gateway without merging identical in-flight subgraph queries.
        ...(message.role === 'gateway-nomerge' ? { subgraphFetch: { dedupeInFlight: false } } : {}),
      });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
    case 'stock':
      return startStockGateway(message.supergraphSdl!);
    default:
      throw new Error(`unknown role ${message.role}`);
  }
}

/** The reference point: Apollo's documented setup, only forwarding the caller's token. */
async function startStockGateway(supergraphSdl: string): Promise<RunningRole> {
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  const { ApolloGateway, RemoteGraphQLDataSource } = await import('@apollo/gateway');
  const { ApolloServer } = await import('@apollo/server');
  const { startStandaloneServer } = await import('@apollo/server/standalone');
  interface Ctx {
    authorization?: string;
  }
  const server = new ApolloServer<Ctx>({
    gateway: new ApolloGateway({
      supergraphSdl,
      buildService: ({ url }) =>
        new RemoteGraphQLDataSource<Ctx>({
          url,
          willSendRequest({ request, context }) {
            if (context.authorization) request.http?.headers.set('authorization', context.authorization);
          },
        }),
    }),
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: '127.0.0.1' },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  const port = new URL(url).port;
  return { url: `http://127.0.0.1:${port}/graphql`, stop: () => server.stop() };
}

serveChild(startRole);
