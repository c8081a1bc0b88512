import { baseConfigShape, env, loadConfig, z } from '@vibestream/platform';
import { publicGraphConfigShape } from './public-graph.ts';

export const gatewayConfigShape = {
  ...baseConfigShape,
  ...publicGraphConfigShape,
  PORT: env.port(4000).describe('Port the process listens on.'),
  HOST: z.preprocess((v) => (v === '' ? undefined : v), z.string().default('0.0.0.0')).describe('Address the process listens on (0.0.0.0: every interface).'),
  SUPERGRAPH_PATH: env
    .optionalString()
    .describe(
      'The supergraph SDL to serve, relative to the project root. Default: schema/supergraph.graphql (committed); it is never fetched from the network.',
    ),
  GRAPHQL_INTROSPECTION: env
    .optionalBool()
    .describe('Introspection on the gateway (true/false). Default: off in production, on otherwise; in production it also gates the /graphiql page.'),
  TRUSTED_PROXIES: env
    .addressRanges('none')
    .describe(
      "IP addresses and CIDR ranges (comma-separated, or none) of the proxies in front of the gateway. A request from one of them is attributed to the nearest X-Forwarded-For hop not in the list; otherwise the socket's address counts. That address goes to the subgraphs as X-Forwarded-For (rate limits and identity's per-address sign-in limit use it).",
    ),
  PERSISTED_DOCUMENTS_PATH: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().default('clients/generated/persisted-documents.json'))
    .describe('The persisted documents manifest written by `npm run codegen` (documentId -> document), relative to the project root.'),
  WEB_APP_DIR: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().default('clients/web/dist'))
    .describe('The built web client served at /, relative to the project root; without an index.html there the gateway serves the API only.'),
  GATEWAY_ENTITY_CACHE: z
    .enum(['on', 'off'])
    .default('on')
    .describe(
      "The entity cache (on/off): subgraph answers kept as their Cache-Control allows (PUBLIC for everyone, PRIVATE per user), in memory and, with REDIS_URL, shared by replicas; purged by the subgraphs' changes before the change's request answers. Off when the gateway runs alone without REDIS_URL (it could not hear the changes).",
    ),
  ENTITY_CACHE_MAX_BYTES: env
    .int(64 * 1024 * 1024, 0)
    .describe('Memory the entity cache may use in this process, in bytes; least recently used entries go first.'),
  ENTITY_CACHE_MAX_TTL_SECONDS: env
    .int(300, 1)
    .describe('Longest the entity cache keeps an entry, whatever a subgraph allows; also how long a replica stops reading shared entries after Redis failed.'),
  PERSISTED_DOCUMENTS_ONLY: env.bool(false).describe('Accept only the known persisted documents on /graphql (recommended in production).'),
  MAX_QUERY_DEPTH: env.int(12, 0).describe('Deepest field nesting an operation may have (0: no limit); checked before any subgraph is called.'),
  MAX_QUERY_ALIASES: env.int(30, 0).describe('Most aliased fields an operation may have (0: no limit).'),
  MAX_QUERY_COST: env.int(5000, 0).describe("Highest estimated cost (objects resolved) of an operation, lists sized by the schema's @listSize (0: no limit)."),
  MAX_RESPONSE_BYTES: env
    .int(1_048_576, 0)
    .describe(
      'Largest JSON answer /graphql sends, in bytes; a larger one is replaced by one BAD_USER_INPUT error (extensions.limit = "responseBytes"), the last line behind the cost limit (0: off).',
    ),
  RATE_LIMIT_PER_USER: env.int(0, 0).describe('Requests (and graphql-ws subscribe messages) per window per signed-in user (0: off).'),
  RATE_LIMIT_PER_ADDRESS: env.int(0, 0).describe('Requests per window per client address (0: off).'),
  RATE_LIMIT_WINDOW_SECONDS: env.int(60, 1).describe('The window of both rate limits, in seconds.'),
  SUBGRAPH_TIMEOUT_MS: env.int(10_000, 100).describe('Time limit of each fetch from a subgraph, in milliseconds.'),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: env.int(50, 1).describe('Subscriptions one graphql-ws connection may hold; the next is refused with RATE_LIMITED.'),
  WS_MAX_CONNECTIONS_PER_USER: env.int(20, 1).describe('graphql-ws connections per user; the next is closed with 4429.'),
  WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: env
    .int(50, 1)
    .describe('graphql-ws connections without a token from one client address; the next is closed with 4429.'),
  WS_MAX_BUFFERED_BYTES: env.int(1_048_576, 1024).describe('Bytes queued on a socket before the connection is closed as a slow consumer (4420).'),
  WS_MAX_QUEUED_EVENTS: env
    .int(500, 1)
    .describe('Events resolved but not yet sent on one subscription before the connection is closed as a slow consumer (4420).'),
  MAX_REQUEST_BYTES: env
    .int(1_048_576, 1024)
    .describe('Largest GraphQL request body accepted, in bytes; larger ones are answered 413 (/media uploads are streamed to catalog, not held to this).'),
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(gatewayConfigShape, source);
}

/** The variable that says where subgraph `name` really is: `SUBGRAPH_URL_<NAME>`. */
export function subgraphUrlVariable(name: string): string {
  return `SUBGRAPH_URL_${name.toUpperCase()}`;
}

/** `SUBGRAPH_URL_<NAME>` for each named subgraph, for the configuration reference. */
export function subgraphUrlShape(names: string[]) {
  return Object.fromEntries(
    names.map((name) => [
      subgraphUrlVariable(name),
      env
        .optionalUrl()
        .describe(
          `Where the ${name} subgraph really is: its /graphql URL (in containers, say)${name === 'catalog' ? '; /media/* is forwarded to its origin' : ''}. Default: the URL in the supergraph, or the in-process subgraph under \`npm start\`.`,
        ),
    ]),
  );
}

/** `SUBGRAPH_URL_<NAME>` overrides the URL the supergraph names for a subgraph (e.g. in containers). */
export function subgraphUrlOverrides(source: NodeJS.ProcessEnv): Map<string, string> {
  const names = Object.keys(source).flatMap((key) => /^SUBGRAPH_URL_([A-Z0-9_]+)$/.exec(key)?.[1] ?? []);
  const urls = loadConfig(subgraphUrlShape(names), source);
  const overrides = new Map<string, string>();
  for (const name of names) {
    const url = urls[subgraphUrlVariable(name)];
    if (url) overrides.set(name.toLowerCase(), url);
  }
  return overrides;
}
