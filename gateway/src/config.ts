import { baseConfigShape, env, loadConfig, z } from '@vibestream/platform';

export const gatewayConfigShape = {
  ...baseConfigShape,
  PORT: env.port(4000),
  HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('0.0.0.0')),
  /** The committed supergraph; the gateway never asks GraphOS or the network for it. */
  SUPERGRAPH_PATH: env.optionalString(),
  /** Off in production unless turned on. */
  GRAPHQL_INTROSPECTION: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['true', 'false']).optional()),
  SUBGRAPH_TIMEOUT_MS: env.int(10_000, 100),
  MAX_REQUEST_BYTES: env.int(1_048_576, 1024),
  /** The address clients reach the gateway at (used in links such as upload URLs). */
  PUBLIC_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url().default('http://localhost:4000')),
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(gatewayConfigShape, source);
}

/** `SUBGRAPH_URL_<NAME>` overrides the URL the supergraph names for a subgraph (e.g. in containers). */
export function subgraphUrlOverrides(source: NodeJS.ProcessEnv): Map<string, string> {
  const overrides = new Map<string, string>();
  for (const [key, value] of Object.entries(source)) {
    const match = /^SUBGRAPH_URL_([A-Z0-9_]+)$/.exec(key);
    if (match?.[1] && value) overrides.set(match[1].toLowerCase(), z.url().parse(value));
  }
  return overrides;
}
