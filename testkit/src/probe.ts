import { parse } from 'graphql';
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { createLogger, createTokenVerifier, startSubgraphServer, type BaseRequestContext, type SubgraphModule } from '@vibestream/platform';

/**
 * A subgraph made of SDL and resolvers alone (no database, no events), for tests of what the
 * gateway does with a subgraph; it verifies the test stack's access tokens.
 */
export function probeSubgraph(name: string, sdl: string, resolvers: GraphQLResolverMap<BaseRequestContext>): SubgraphModule {
  const typeDefs = parse(sdl);
  return {
    name,
    defaultPort: 0,
    sdl,
    typeDefs,
    async start(options) {
      const verifier = await createTokenVerifier({ publicKeyPem: options.env.JWT_PUBLIC_KEY, issuer: 'vibestream-identity', audience: 'vibestream' });
      const server = await startSubgraphServer<BaseRequestContext>({
        name,
        port: options.port ?? 0,
        typeDefs,
        verifier,
        log: options.log ?? createLogger(name, 'silent'),
        introspection: true,
        context: (base) => base,
        resolvers,
      });
      return { name, url: server.url, port: server.port, stop: server.stop };
    },
  };
}
