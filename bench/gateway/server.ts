/**
 * One server of the gateway benchmark, run as its own child process by run.ts (so the load
 * generator, the gateway and the subgraph never share an event loop).
 *
 * Protocol (IPC): the parent sends { type: 'start', role, env, supergraphSdl? }; the child
 * answers { type: 'ready', url } (or { type: 'failed', error }); on { type: 'stop' } it
 * shuts down and exits. It also exits when the parent goes away.
 */
import type { ServerTarget, StartMessage } from './protocol.ts';

interface Running {
  url: string;
  stop(): Promise<void>;
}

async function startRole(message: StartMessage): Promise<Running> {
  const env = { ...message.env, HOST: '127.0.0.1' };
  Object.assign(process.env, env);
  switch (message.role) {
    case 'subgraph': {
      const { identitySubgraph } = await import('@vibestream/identity');
      const running = await identitySubgraph.start({ env, port: 0 });
      return { url: `http://127.0.0.1:${running.port}/graphql`, stop: running.stop };
    }
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
async function startStockGateway(supergraphSdl: string): Promise<Running> {
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

let running: Running | null = null;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const timer = setTimeout(() => process.exit(code), 10_000);
    timer.unref();
    await running?.stop().catch(() => undefined);
  }
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const message = raw as StartMessage | { type: 'stop' };
  if (message.type === 'stop') {
    void shutdown(0);
    return;
  }
  if (message.type !== 'start') return;
  startRole(message).then(
    (r) => {
      running = r;
      const target: ServerTarget = { role: message.role, url: r.url, pid: process.pid };
      process.send?.({ type: 'ready', ...target });
    },
    (error: unknown) => {
      process.send?.({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      void shutdown(1);
    },
  );
});
// The parent died or closed the channel: do not linger.
process.on('disconnect', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
