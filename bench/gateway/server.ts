/**
 * One server of the gateway benchmark, run as its own child process by run.ts (so the load
 * generator, the gateway and the subgraph never share an event loop). The protocol with run.ts
 * is bench/lib (protocol.ts; serveChild in child.ts).
 */
import { serveChild, type RunningRole } from '../lib/child.ts';
import { startSubgraphRole } from '../lib/roles.ts';
import type { StartMessage } from '../lib/protocol.ts';

export type Role = 'subgraph' | 'gateway' | 'gateway-nomerge' | 'stock';

async function startRole(message: StartMessage<Role>): Promise<RunningRole> {
  const { env } = message;
  switch (message.role) {
    case 'subgraph':
      return startSubgraphRole('identity', { env });
    case 'gateway':
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
