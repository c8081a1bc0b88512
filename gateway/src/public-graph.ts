import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  Kind,
  OperationTypeNode,
  buildSchema,
  execute,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type FormattedExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  printSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import {
  BodyTooLargeError,
  ErrorCode,
  ensureDevSecret,
  env,
  publicSchemaOf,
  readBody,
  sendJson,
  withoutSuggestions,
  z,
  type Logger,
  type Redis,
} from '@vibestream/platform';
import { createRequestLimiter, sendRateLimited } from './limits/rate-limit.ts';

/**
 * The partner graph: `/public/graphql` serves only the schema tagged @tag(name: "public")
 * (schema/public.graphql) to callers presenting an API key in `x-api-key`.
 *
 * 1. No key, or a key identity does not know or has revoked: 401 UNAUTHENTICATED.
 * 2. Per-key rate limit (fixed window, Redis or memory): 429 RATE_LIMITED + Retry-After.
 * 3. The operation is parsed and validated against the public schema, so a private field or
 *    type is simply unknown here: 400 GRAPHQL_VALIDATION_FAILED.
 * 4. Introspection (`__schema`, `__type`) is answered here, from the public schema, so it
 *    never shows the full API; it cannot be mixed with data fields in one operation.
 * 5. Anything else runs through the gateway's own pipeline (`executeViaGateway`, Apollo's
 *    executeOperation) as an anonymous caller: no principal, no Authorization header.
 */
export const PUBLIC_GRAPHQL_PATH = '/public/graphql';
export const API_KEY_HEADER = 'x-api-key';
/** The header carrying INTERNAL_API_TOKEN to identity's internal routes. */
export const INTERNAL_TOKEN_HEADER = 'x-internal-token';
/** identity's route that checks a key (see subgraphs/identity/src/api-keys.ts). */
export const API_KEY_VERIFY_PATH = '/internal/api-keys/verify';
/** Name of the development INTERNAL_API_TOKEN in `.data/keys/` (`ensureDevSecret`), shared with identity. */
export const INTERNAL_API_TOKEN_SECRET = 'internal-api-token';

/** Gateway settings for the partner graph; spread into the gateway's config shape. */
export const publicGraphConfigShape = {
  INTERNAL_API_TOKEN: z
    .preprocess((v) => (v === '' ? undefined : v), z.string().min(32).optional())
    .describe(
      "Secret (at least 32 characters) sent to identity (x-internal-token) to check partners' API keys; identity's INTERNAL_API_TOKEN, the same value. Required in production (without it /public/graphql answers 503); otherwise the development secret in VIBESTREAM_DATA_DIR/keys.",
    ),
  PUBLIC_RATE_LIMIT_PER_KEY: env.int(600, 0).describe('Requests per window per API key on /public/graphql (0: off).'),
  PUBLIC_RATE_LIMIT_WINDOW_SECONDS: env.int(60, 1).describe('The window of PUBLIC_RATE_LIMIT_PER_KEY, in seconds.'),
  API_KEY_CACHE_SECONDS: env.int(30, 0).describe("How long identity's answer about an API key (valid or not) is reused, in seconds (0: ask every time)."),
  PUBLIC_GRAPHQL_INTROSPECTION: env.bool(true).describe('Introspection of the public schema on /public/graphql (it is published anyway).'),
};

export type PublicGraphConfig = z.infer<z.ZodObject<typeof publicGraphConfigShape>>;

export interface VerifiedApiKey {
  keyId: string;
  name: string;
}

/** Answers who a presented key belongs to; null when it is unknown or revoked. Throws when it cannot tell. */
export type ApiKeyVerifier = (key: string) => Promise<VerifiedApiKey | null>;

/** What the gateway runs for a partner: the document as sent, as an anonymous caller. */
export interface PublicOperation {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
  apiKey: VerifiedApiKey;
  clientAddress: string;
}

export interface PublicExecution {
  /** The HTTP status of the gateway's answer (200 when absent). */
  status?: number;
  result: FormattedExecutionResult;
}

export type PublicRateLimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface PublicRateLimiter {
  check(keyId: string): Promise<PublicRateLimitVerdict>;
}

export interface PublicGraphOptions {
  /** schema/public.graphql, or `publicSchemaOf(supergraphSdl, printSchema(apiSchema))` for the supergraph served. */
  publicSchemaSdl: string;
  executeViaGateway: (operation: PublicOperation) => Promise<PublicExecution>;
  verifyKey: ApiKeyVerifier;
  rateLimiter?: PublicRateLimiter | null;
  log: Logger;
  /** Introspection of the public schema; on unless turned off. */
  introspection?: boolean;
  maxRequestBytes?: number;
  /** The caller's address (the gateway passes `clientAddress(req, TRUSTED_PROXIES)`). */
  clientAddress?: (req: IncomingMessage) => string;
  /** No "Did you mean …?" in error messages (production). */
  hideSchemaDetails?: boolean;
}

export type PublicGraphHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const JSON_HEADERS = { 'cache-control': 'no-store' };

function errorBody(code: string, message: string, extra: Partial<GraphQLFormattedError> = {}): { errors: GraphQLFormattedError[] } {
  return { errors: [{ message, ...extra, extensions: { ...extra.extensions, code } }] };
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(code, message), { ...JSON_HEADERS, ...headers });
}

interface GraphQLParams {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

export function createPublicGraph(options: PublicGraphOptions): PublicGraphHandler {
  const schema: GraphQLSchema = buildSchema(options.publicSchemaSdl);
  const introspection = options.introspection ?? true;
  const maxRequestBytes = options.maxRequestBytes ?? 1_048_576;
  const addressOf = options.clientAddress ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown');
  const { log } = options;
  const messageOf = (error: GraphQLError) => (options.hideSchemaDetails ? withoutSuggestions(error.message) : error.message);

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'POST') {
      return sendError(res, 405, 'BAD_REQUEST', 'Use GET or POST', { allow: 'GET, POST' });
    }

    // 1. The key.
    const presented = req.headers[API_KEY_HEADER];
    const key = typeof presented === 'string' ? presented.trim() : '';
    if (!key) return sendError(res, 401, ErrorCode.UNAUTHENTICATED, `An API key is required: send it in the ${API_KEY_HEADER} header`);
    let apiKey: VerifiedApiKey | null;
    try {
      apiKey = /^[A-Za-z0-9_-]{1,128}$/.test(key) ? await options.verifyKey(key) : null;
    } catch (error) {
      log.error({ err: error }, 'api key verification failed');
      return sendError(res, 503, ErrorCode.INTERNAL_SERVER_ERROR, 'API keys cannot be checked right now; try again shortly', { 'retry-after': '5' });
    }
    if (!apiKey) return sendError(res, 401, ErrorCode.UNAUTHENTICATED, 'Invalid or revoked API key');

    // 2. The key's rate limit, before any parsing.
    if (options.rateLimiter) {
      const verdict = await options.rateLimiter.check(apiKey.keyId);
      if (!verdict.allowed) return sendRateLimited(res, verdict.retryAfterSeconds);
    }

    // 3. The request, parsed and validated against the public schema only.
    const params = await readParams(req, maxRequestBytes);
    if ('error' in params) return sendError(res, params.status, params.code, params.error);
    let document: DocumentNode;
    try {
      document = parse(params.query, { maxTokens: 10_000 });
    } catch (error) {
      const e = error as GraphQLError;
      return sendJson(res, 400, errorBody('GRAPHQL_PARSE_FAILED', e.message, e.locations ? { locations: e.locations } : {}), JSON_HEADERS);
    }
    const validationErrors = validate(schema, document, specifiedRules, { maxErrors: 20 });
    if (validationErrors.length > 0) {
      return sendJson(
        res,
        400,
        {
          errors: validationErrors.map((e) => ({
            message: messageOf(e),
            ...(e.locations ? { locations: e.locations } : {}),
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
          })),
        },
        JSON_HEADERS,
      );
    }
    const operation = getOperationAST(document, params.operationName);
    if (!operation) {
      return sendError(
        res,
        400,
        'OPERATION_RESOLUTION_FAILURE',
        params.operationName ? `Unknown operation "${params.operationName}"` : 'Name the operation to run (operationName)',
      );
    }
    // graphql-js validation does not check the schema has the operation's root type (execution
    // does): without this, a mutation would reach the full graph's Mutation type.
    if (!schema.getRootType(operation.operation)) {
      return sendError(res, 400, 'GRAPHQL_VALIDATION_FAILED', `The public graph has no ${operation.operation} operations`);
    }
    if (operation.operation === OperationTypeNode.SUBSCRIPTION) return sendError(res, 400, 'BAD_REQUEST', 'Subscriptions are not served on the public graph');
    if (operation.operation === OperationTypeNode.MUTATION && req.method === 'GET') {
      return sendError(res, 405, 'BAD_REQUEST', 'Mutations must be sent with POST', { allow: 'POST' });
    }

    // 4. Introspection answers from the public schema itself.
    const roots = rootFieldNames(document, operation);
    const introspects = roots.has('__schema') || roots.has('__type');
    if (introspects && !introspection) {
      return sendError(res, 400, 'GRAPHQL_VALIDATION_FAILED', 'Introspection is disabled on the public graph');
    }
    if (introspects || [...roots].every((name) => name.startsWith('__'))) {
      if ([...roots].some((name) => !name.startsWith('__'))) {
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, 'Send introspection (__schema, __type) in an operation of its own on the public graph');
      }
      const result = await execute({ schema, document, variableValues: params.variables, operationName: params.operationName });
      const formatted: FormattedExecutionResult = {
        ...(result.errors
          ? { errors: result.errors.map((e) => ({ ...e.toJSON(), message: messageOf(e), extensions: { code: ErrorCode.BAD_USER_INPUT } })) }
          : {}),
        data: result.data ?? null,
      };
      return sendJson(res, 200, formatted, JSON_HEADERS);
    }

    // 5. Everything else through the gateway, anonymously.
    const started = Date.now();
    const { status, result } = await options.executeViaGateway({
      query: params.query,
      variables: params.variables,
      operationName: params.operationName,
      apiKey,
      clientAddress: addressOf(req),
    });
    log.debug({ apiKeyId: apiKey.keyId, operationName: operation.name?.value ?? null, ms: Date.now() - started }, 'public graph operation');
    sendJson(res, status ?? 200, result, JSON_HEADERS);
  };
}

async function readParams(req: IncomingMessage, maxRequestBytes: number): Promise<GraphQLParams | { status: number; code: string; error: string }> {
  let raw: { query?: unknown; variables?: unknown; operationName?: unknown };
  if (req.method === 'GET') {
    const search = new URL(req.url ?? '/', 'http://localhost').searchParams;
    let variables: unknown = undefined;
    try {
      variables = search.get('variables') ? JSON.parse(search.get('variables')!) : undefined;
    } catch {
      return { status: 400, code: 'BAD_REQUEST', error: 'variables is not valid JSON' };
    }
    raw = { query: search.get('query') ?? undefined, variables, operationName: search.get('operationName') ?? undefined };
  } else {
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.includes('json')) return { status: 415, code: 'BAD_REQUEST', error: 'Send a JSON body (content-type: application/json)' };
    let text: string;
    try {
      text = await readBody(req, maxRequestBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return { status: 413, code: ErrorCode.BAD_USER_INPUT, error: error.message };
      throw error;
    }
    try {
      raw = (JSON.parse(text) ?? {}) as typeof raw;
    } catch {
      return { status: 400, code: 'BAD_REQUEST', error: 'The request body is not valid JSON' };
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) return { status: 400, code: 'BAD_REQUEST', error: 'The request body must be a JSON object' };
  }
  if (typeof raw.query !== 'string' || !raw.query.trim()) {
    return { status: 400, code: 'BAD_REQUEST', error: 'query is required (persisted documents are not served on the public graph)' };
  }
  if (raw.variables != null && (typeof raw.variables !== 'object' || Array.isArray(raw.variables))) {
    return { status: 400, code: 'BAD_REQUEST', error: 'variables must be an object' };
  }
  if (raw.operationName != null && typeof raw.operationName !== 'string') return { status: 400, code: 'BAD_REQUEST', error: 'operationName must be a string' };
  return {
    query: raw.query,
    variables: (raw.variables as Record<string, unknown> | null | undefined) ?? undefined,
    operationName: (raw.operationName as string | null | undefined) ?? undefined,
  };
}

/** The names of the fields an operation selects at its root, fragments expanded. */
function rootFieldNames(document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return names;
}

/**
 * Checks keys with identity (`POST <identity>/internal/api-keys/verify`, `x-internal-token`),
 * remembering each answer, valid or not, for `cacheSeconds` (revocation therefore takes up to
 * that long to reach a gateway). Concurrent checks of one key share one call. Keys are held
 * only as their SHA-256. Errors (identity unreachable) are not remembered: they throw.
 */
export function createApiKeyVerifier(options: {
  /** identity's base URL (any URL on it: only its origin is used), or a function answering it once known. */
  identityUrl: string | (() => string | undefined);
  internalToken: string;
  cacheSeconds?: number;
  maxEntries?: number;
  timeoutMs?: number;
}): ApiKeyVerifier {
  const cacheMs = (options.cacheSeconds ?? 30) * 1000;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { answer: VerifiedApiKey | null; until: number }>();
  const inFlight = new Map<string, Promise<VerifiedApiKey | null>>();

  async function ask(key: string): Promise<VerifiedApiKey | null> {
    const base = typeof options.identityUrl === 'function' ? options.identityUrl() : options.identityUrl;
    if (!base) throw new Error('the identity subgraph URL is not known yet');
    const response = await fetch(new URL(API_KEY_VERIFY_PATH, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: options.internalToken },
      body: JSON.stringify({ key }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
    });
    if (!response.ok) throw new Error(`identity answered ${response.status} to an API key check`);
    const body = (await response.json()) as { valid?: unknown; keyId?: unknown; name?: unknown };
    return body.valid === true && typeof body.keyId === 'string' ? { keyId: body.keyId, name: typeof body.name === 'string' ? body.name : '' } : null;
  }

  return async (key) => {
    const id = createHash('sha256').update(key).digest('base64url');
    const now = Date.now();
    const cached = cache.get(id);
    if (cached && cached.until > now) return cached.answer;
    if (cached) cache.delete(id);
    const pending = inFlight.get(id);
    if (pending) return pending;
    const promise = ask(key)
      .then((answer) => {
        if (cacheMs > 0) {
          if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
          cache.set(id, { answer, until: Date.now() + cacheMs });
        }
        return answer;
      })
      .finally(() => inFlight.delete(id));
    inFlight.set(id, promise);
    return promise;
  };
}

/**
 * The per-key limit: `gateway/src/limits/rate-limit.ts`'s fixed windows (one atomic Lua
 * script per key in Redis, memory without it; fails open when Redis is down), keyed
 * `<prefix>public:ratelimit:req:user:<keyId>`. Null when `limit` is 0.
 */
export function createApiKeyRateLimiter(options: {
  redis: Redis | null;
  prefix: string;
  limit: number;
  windowSeconds: number;
  onError?: (error: unknown) => void;
}): PublicRateLimiter | null {
  if (options.limit <= 0) return null;
  const limiter = createRequestLimiter({
    redis: options.redis,
    prefix: `${options.prefix}public:`,
    perUser: { limit: options.limit, windowSeconds: options.windowSeconds },
    ...(options.onError ? { onError: options.onError } : {}),
  });
  return {
    async check(keyId) {
      const verdict = await limiter.check({ userId: keyId });
      return verdict.allowed ? { allowed: true } : { allowed: false, retryAfterSeconds: verdict.retryAfterSeconds };
    },
  };
}

/**
 * Everything gateway.ts needs for /public/graphql, from its own pieces: the public schema of
 * the supergraph it serves, identity's verify route (at identity's URL from the supergraph),
 * the per-key limiter and the internal token. Without INTERNAL_API_TOKEN in production the
 * route answers 503; with no public Query field in the supergraph it answers 404.
 */
export async function createGatewayPublicGraph(deps: {
  config: PublicGraphConfig & { NODE_ENV: string; REDIS_PREFIX: string; MAX_REQUEST_BYTES: number };
  env: NodeJS.ProcessEnv;
  supergraphSdl: string;
  apiSchema: GraphQLSchema;
  /** identity's URL once the gateway knows it (`subgraphUrls.get('identity')`). */
  identityUrl: () => string | undefined;
  /** The gateway's Redis; null keeps the per-key counters in memory. */
  redis: Redis | null;
  clientAddress: (req: IncomingMessage) => string;
  log: Logger;
  executeViaGateway: PublicGraphOptions['executeViaGateway'];
}): Promise<PublicGraphHandler> {
  const { config, log } = deps;
  let publicSchemaSdl: string;
  try {
    publicSchemaSdl = publicSchemaOf(deps.supergraphSdl, printSchema(deps.apiSchema));
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'no public schema in this supergraph: /public/graphql is off');
    return async (_req, res) => sendJson(res, 404, { error: 'not found' });
  }
  const internalToken =
    config.INTERNAL_API_TOKEN ?? (config.NODE_ENV === 'production' ? null : await ensureDevSecret(deps.env, INTERNAL_API_TOKEN_SECRET, log));
  if (!internalToken) {
    log.warn('INTERNAL_API_TOKEN is not set: /public/graphql answers 503');
    return async (_req, res) => sendError(res, 503, ErrorCode.INTERNAL_SERVER_ERROR, 'The public graph is not configured');
  }
  return createPublicGraph({
    publicSchemaSdl,
    verifyKey: createApiKeyVerifier({ identityUrl: deps.identityUrl, internalToken, cacheSeconds: config.API_KEY_CACHE_SECONDS }),
    rateLimiter: createApiKeyRateLimiter({
      redis: deps.redis,
      prefix: config.REDIS_PREFIX,
      limit: config.PUBLIC_RATE_LIMIT_PER_KEY,
      windowSeconds: config.PUBLIC_RATE_LIMIT_WINDOW_SECONDS,
      onError: (error) => log.warn({ err: (error as Error).message }, 'public graph rate limiter: redis unavailable, allowing'),
    }),
    introspection: config.PUBLIC_GRAPHQL_INTROSPECTION,
    hideSchemaDetails: config.NODE_ENV === 'production',
    maxRequestBytes: config.MAX_REQUEST_BYTES,
    clientAddress: deps.clientAddress,
    log,
    executeViaGateway: deps.executeViaGateway,
  });
}
