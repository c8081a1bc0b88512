import { baseConfigShape, env, loadConfig, z } from '@vibestream/platform';
import { publicGraphConfigShape } from './public-graph.ts';

export const gatewayConfigShape = {
  ...baseConfigShape,
  ...publicGraphConfigShape,
  PORT: env.port(4000),
  HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('0.0.0.0')),
  /** The committed supergraph; the gateway never asks GraphOS or the network for it. */
  SUPERGRAPH_PATH: env.optionalString(),
  /** Off in production unless turned on. */
  GRAPHQL_INTROSPECTION: env.optionalBool(),
  /** Addresses and CIDR ranges of proxies in front of the gateway whose X-Forwarded-For is believed (comma-separated). */
  TRUSTED_PROXIES: env.addressRanges('none'),
  /** Manifest of the client operations written by `npm run codegen` (documentId -> document). */
  PERSISTED_DOCUMENTS_PATH: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('clients/generated/persisted-documents.json')),
  /** The built web client served at `/` (relative to the project root); nothing is served there when it is missing. */
  WEB_APP_DIR: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('clients/web/dist')),
  /** Accept only the known persisted documents (recommended in production). */
  PERSISTED_DOCUMENTS_ONLY: env.bool(false),
  /** Protective limits, checked before any subgraph is called (see gateway/src/limits/README.md). */
  MAX_QUERY_DEPTH: env.int(12, 0),
  MAX_QUERY_ALIASES: env.int(30, 0),
  MAX_QUERY_COST: env.int(5000, 0),
  /** Bytes of JSON one /graphql answer may take; a larger one is refused (the last line behind the cost limit). */
  MAX_RESPONSE_BYTES: env.int(1_048_576, 0),
  /** Requests per window per user and per client address; 0 turns a limit off. */
  RATE_LIMIT_PER_USER: env.int(0, 0),
  RATE_LIMIT_PER_ADDRESS: env.int(0, 0),
  RATE_LIMIT_WINDOW_SECONDS: env.int(60, 1),
  SUBGRAPH_TIMEOUT_MS: env.int(10_000, 100),
  /** graphql-ws limits: subscriptions per connection, connections per user, and when a slow reader is cut off (close 4420). */
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: env.int(50, 1),
  WS_MAX_CONNECTIONS_PER_USER: env.int(20, 1),
  /** graphql-ws connections without a token from one client address (close 4429 beyond). */
  WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: env.int(50, 1),
  WS_MAX_BUFFERED_BYTES: env.int(1_048_576, 1024),
  WS_MAX_QUEUED_EVENTS: env.int(500, 1),
  MAX_REQUEST_BYTES: env.int(1_048_576, 1024),
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
