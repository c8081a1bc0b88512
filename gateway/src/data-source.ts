import { Agent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError, Kind, Lexer, Source, TokenKind, type DocumentNode, type GraphQLFormattedError } from 'graphql';
import { REQUEST_ID_HEADER, endClientSpan, entityTag, startClientSpan, type CacheTagsExtension, type Tracer } from '@vibestream/platform';
import type { GatewayContext } from './context.ts';
import { answerKey, parseCacheControl, type CachePolicy, type ChangeClock, type EntityCache } from './entity-cache/entity-cache.ts';

const httpAgent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1_000 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 256 });

export interface SubgraphDataSourceOptions {
  /**
   * Merge identical subgraph queries that are in flight at the same time: same subgraph,
   * same query text, variables, bearer token and client address. The later callers wait for
   * the first one's answer instead of sending their own (each gets its own parsed copy).
   * Mutations are never merged. On by default.
   */
  dedupeInFlight?: boolean;
  /**
   * Send each distinct entity representation of an `_entities` fetch once and fan the
   * answer (and its errors) back out to every position that asked for it. On by default.
   */
  dedupeRepresentations?: boolean;
  /**
   * The entity cache (entity-cache/): a query's answer, or each entity of an `_entities` fetch, kept
   * as the subgraph's Cache-Control allows, PUBLIC ones for everyone, PRIVATE ones per principal.
   */
  entityCache?: EntityCache | null;
  /** The changes this replica has seen, shared by its data sources (see ChangeClock). */
  changes?: ChangeClock | null;
}

/** Why a subgraph fetch failed: no answer in time, no connection, or an HTTP status outside 2xx (`http_4xx`, `http_5xx`, ...). */
export type SubgraphFetchErrorKind = 'timeout' | 'connection' | `http_${number}xx`;

/**
 * Observes the fetches a data source really sends (a caller merged into another's in-flight
 * fetch sends none): a client span each, its trace context (`traceparent`, `tracestate`) in
 * the request headers, and a report of its duration and failure.
 */
export interface SubgraphFetchObserver {
  tracer?: Tracer | null;
  fetched?: (subgraph: string, seconds: number, error: SubgraphFetchErrorKind | null) => void;
}

class SubgraphTimeoutError extends Error {}

/** A subgraph answer as it arrived: parsed separately by every caller, who may mutate the result. */
interface RawAnswer {
  status: number | undefined;
  text: string;
  /** The subgraph's Cache-Control header: what the entity cache may keep of the answer. */
  cacheControl: string | undefined;
}

/**
 * Sends subgraph fetches over keep-alive sockets with plain `http.request`: none of the
 * default fetcher's per-request Request/Headers objects or stack traces. Forwards the caller's
 * bearer token (each subgraph verifies it again), the request id and the client address.
 *
 * Two savings on top, both invisible in the answers:
 * - identical queries in flight at once are sent once (see `dedupeInFlight`); the merged fetch
 *   carries the request id (and trace context) of the request that sent it;
 * - duplicate entity representations are sent once (see `dedupeRepresentations`).
 */
export class SubgraphDataSource implements GraphQLDataSource<GatewayContext> {
  readonly name: string;
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly dedupeInFlight: boolean;
  private readonly dedupeRepresentations: boolean;
  private readonly requestBase: RequestOptions;
  private readonly send: typeof httpRequest;
  private readonly inFlight = new Map<string, Promise<RawAnswer>>();
  private readonly observer: SubgraphFetchObserver | null;
  private readonly entityCache: EntityCache | null;
  private readonly changes: ChangeClock | null;

  constructor(name: string, url: string, timeoutMs: number, options: SubgraphDataSourceOptions = {}, observer?: SubgraphFetchObserver) {
    this.name = name;
    this.observer = observer ?? null;
    this.url = new URL(url);
    this.timeoutMs = timeoutMs;
    this.dedupeInFlight = options.dedupeInFlight ?? true;
    this.dedupeRepresentations = options.dedupeRepresentations ?? true;
    this.entityCache = options.entityCache ?? null;
    this.changes = options.changes ?? null;
    const https = this.url.protocol === 'https:';
    this.send = https ? httpsRequest : httpRequest;
    this.requestBase = {
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port,
      path: this.url.pathname + this.url.search,
      method: 'POST',
      agent: https ? httpsAgent : httpAgent,
      timeout: this.timeoutMs,
    };
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const { request } = options;
    const context = options.context as Partial<GatewayContext>;
    const query = isQuery('document' in options ? options.document : undefined, request.query);
    if (this.entityCache && query && request.query) {
      const representations = request.variables?.representations;
      if (Array.isArray(representations) && isEntityFetch(request.query)) {
        return this.entitiesThroughCache(this.entityCache, request.query, request.variables!, representations as unknown[], request.operationName, context);
      }
      return this.rootThroughCache(this.entityCache, request.query, request.variables, request.operationName, context);
    }
    return this.uncached(options, context, query);
  }

  private async uncached(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
    context: Partial<GatewayContext>,
    query: boolean,
  ): Promise<GatewayGraphQLResponse> {
    const { request } = options;

    let variables = request.variables;
    let fanOut: { indexOf: number[]; uniqueCount: number } | null = null;
    if (this.dedupeRepresentations && variables && Array.isArray(variables.representations) && isEntityFetch(request.query)) {
      const unique = uniqueRepresentations(variables.representations as unknown[]);
      if (unique) {
        variables = { ...variables, representations: unique.representations };
        fanOut = { indexOf: unique.indexOf, uniqueCount: unique.representations.length };
      }
    }

    const response = this.parse(await this.exchange(request.query, variables, request.operationName, context, query));
    // A write: reads from now on do not join fetches sent before it.
    if (!query) this.changes?.changed();
    await this.applyInvalidations(response);
    return fanOut ? fanOutEntities(response, fanOut.indexOf, fanOut.uniqueCount) : response;
  }

  /**
   * Sends one operation and answers its raw reply. Identical queries in flight at once are sent
   * once (see `dedupeInFlight`).
   */
  private exchange(
    query: string | undefined,
    variables: Record<string, unknown> | undefined,
    operationName: string | undefined,
    context: Partial<GatewayContext>,
    mergeable: boolean,
  ): Promise<RawAnswer> {
    const body = JSON.stringify({ query, variables, operationName });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (context.authorization) headers.authorization = context.authorization;
    if (context.requestId) headers[REQUEST_ID_HEADER] = context.requestId;
    if (context.clientAddress) headers['x-forwarded-for'] = context.clientAddress;

    if (!this.dedupeInFlight || !mergeable) return this.fetch(body, headers);
    // Everything the subgraph's answer can depend on, except the request id (logging only), and
    // the changes seen so far: a fetch sent before the latest change is not joined.
    const key = `${this.changes?.now ?? 0}\n${context.authorization ?? ''}\n${context.clientAddress ?? ''}\n${body}`;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const answer = this.fetch(body, headers);
    this.inFlight.set(key, answer);
    const forget = () => {
      if (this.inFlight.get(key) === answer) this.inFlight.delete(key);
    };
    answer.then(forget, forget);
    return answer;
  }

  /** Drops this replica's cached copies of what the subgraph says it changed, before the answer goes on. */
  private async applyInvalidations(response: GatewayGraphQLResponse): Promise<void> {
    const extensions = response.extensions as { invalidatedTags?: unknown; cacheTags?: unknown } | undefined;
    if (!extensions) return;
    const tags = extensions.invalidatedTags;
    if (this.entityCache && Array.isArray(tags) && tags.every((t) => typeof t === 'string')) this.entityCache.purgeLocal(tags as string[]);
    delete extensions.invalidatedTags;
    delete extensions.cacheTags;
  }

  /** A root query: its whole answer is one entry. */
  private async rootThroughCache(
    cache: EntityCache,
    query: string,
    variables: Record<string, unknown> | undefined,
    operationName: string | undefined,
    context: Partial<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    const base = answerKey(this.name, query, JSON.stringify(variables ?? {}));
    const scope = principalScope(context);
    const [hit] = await cache.lookup(this.name, [candidateKeys(base, scope)]);
    if (hit !== undefined) return { data: JSON.parse(hit) as Record<string, unknown> };
    const since = cache.clock();
    const raw = await this.exchange(query, variables, operationName, context, true);
    const response = this.parse(raw);
    const extensions = response.extensions as { cacheTags?: CacheTagsExtension; invalidatedTags?: unknown } | undefined;
    const policy = parseCacheControl(raw.cacheControl);
    const key = policy && storeKey(base, policy, scope);
    const data = response.data;
    if (key && !response.errors?.length && !extensions?.invalidatedTags && data && Object.values(data).every((v) => v !== null)) {
      await cache.store(this.name, [{ key, value: JSON.stringify(data), maxAgeSeconds: policy.maxAgeSeconds, tags: extensions?.cacheTags?.root ?? [] }], since);
    }
    await this.applyInvalidations(response);
    return response;
  }

  /**
   * An `_entities` fetch: each representation is an entry. Only the ones not cached are fetched;
   * the answer is put back together in the planner's order, errors at their positions.
   */
  private async entitiesThroughCache(
    cache: EntityCache,
    query: string,
    variables: Record<string, unknown>,
    representations: unknown[],
    operationName: string | undefined,
    context: Partial<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    const { representations: _omitted, ...others } = variables;
    const shared = answerKey(this.name, query, JSON.stringify(others));
    const scope = principalScope(context);
    const unique = new Map<string, { representation: unknown; positions: number[]; base: string }>();
    representations.forEach((representation, position) => {
      const text = JSON.stringify(representation);
      const known = unique.get(text);
      if (known) known.positions.push(position);
      else unique.set(text, { representation, positions: [position], base: answerKey(shared, text) });
    });
    const items = [...unique.values()];
    const hits = await cache.lookup(
      this.name,
      items.map((item) => candidateKeys(item.base, scope)),
    );
    const entities: unknown[] = new Array(representations.length).fill(null);
    const errors: GraphQLFormattedError[] = [];
    const missing: typeof items = [];
    items.forEach((item, i) => {
      const hit = hits[i];
      if (hit === undefined) missing.push(item);
      // Each position its own copy: the gateway merges into what it gets.
      else for (const position of item.positions) entities[position] = JSON.parse(hit);
    });
    if (missing.length === 0) return { data: { _entities: entities } };

    const since = cache.clock();
    const raw = await this.exchange(query, { ...others, representations: missing.map((m) => m.representation) }, operationName, context, true);
    const response = this.parse(raw);
    const extensions = response.extensions as { cacheTags?: CacheTagsExtension; invalidatedTags?: unknown } | undefined;
    const fetched = (response.data as { _entities?: unknown } | null | undefined)?._entities;
    if (!Array.isArray(fetched) || fetched.length !== missing.length) {
      // Not an answer to put together: the gateway reports it as the subgraph gave it.
      await this.applyInvalidations(response);
      return response;
    }
    const failed = new Set<number>();
    let unplaced = false;
    for (const error of response.errors ?? []) {
      const path = error.path;
      if (!path || path[0] !== '_entities' || typeof path[1] !== 'number' || !missing[path[1]]) {
        unplaced = true;
        errors.push(error);
        continue;
      }
      failed.add(path[1]);
      for (const position of missing[path[1]]!.positions) errors.push({ ...error, path: ['_entities', position, ...path.slice(2)] });
    }
    const policy = parseCacheControl(raw.cacheControl);
    const toStore: { key: string; value: string; maxAgeSeconds: number; tags: string[] }[] = [];
    missing.forEach((item, i) => {
      const entity = fetched[i];
      item.positions.forEach((position, n) => (entities[position] = n === 0 ? entity : structuredClone(entity)));
      const key = policy && storeKey(item.base, policy, scope);
      if (!key || unplaced || failed.has(i) || entity === null || typeof entity !== 'object' || extensions?.invalidatedTags) return;
      const tags = [...(extensions?.cacheTags?.entities?.[i] ?? []), ...representationTag(item.representation)];
      toStore.push({ key, value: JSON.stringify(entity), maxAgeSeconds: policy.maxAgeSeconds, tags });
    });
    if (toStore.length > 0) await cache.store(this.name, toStore, since);
    await this.applyInvalidations(response);
    return { ...response, data: { ...response.data, _entities: entities }, ...(errors.length ? { errors } : {}) };
  }

  private parse({ status, text }: RawAnswer): GatewayGraphQLResponse {
    let parsed: GatewayGraphQLResponse | null = null;
    try {
      parsed = JSON.parse(text) as GatewayGraphQLResponse;
    } catch {
      // handled below
    }
    if (parsed && typeof parsed === 'object' && ('data' in parsed || 'errors' in parsed)) return parsed;
    throw new GraphQLError(`Subgraph ${this.name} answered HTTP ${status} without a GraphQL response`);
  }

  /** One real fetch: traced and reported to the observer, when there is one. */
  private fetch(body: string, headers: Record<string, string | number>): Promise<RawAnswer> {
    const observer = this.observer;
    if (!observer) return this.post(body, headers);
    const span = observer.tracer ? startClientSpan(observer.tracer, `subgraph ${this.name}`, { 'graphql.subgraph.name': this.name }, headers) : null;
    const started = performance.now();
    const answer = this.post(body, headers);
    answer.then(
      ({ status }) => {
        const ok = status !== undefined && status >= 200 && status < 300;
        observer.fetched?.(this.name, (performance.now() - started) / 1000, ok ? null : `http_${Math.floor((status ?? 0) / 100)}xx`);
        if (span) endClientSpan(span, status);
      },
      (error: unknown) => {
        observer.fetched?.(this.name, (performance.now() - started) / 1000, error instanceof SubgraphTimeoutError ? 'timeout' : 'connection');
        if (span) endClientSpan(span, undefined, error);
      },
    );
    return answer;
  }

  private post(body: string, headers: Record<string, string | number>): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.send({ ...this.requestBase, headers }, (res: IncomingMessage) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode, text, cacheControl: res.headers['cache-control'] }));
      });
      req.on('timeout', () => req.destroy(new SubgraphTimeoutError(`Subgraph ${this.name} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** Whose PRIVATE entries a request may read and write: its verified principal's (roles included); anonymous callers have none. */
function principalScope(context: Partial<GatewayContext>): string | null {
  const principal = context.principal;
  return principal ? `user:${principal.userId}:${[...principal.roles].sort().join(',')}` : null;
}

/** Where an answer may be found: the caller's own entry first, then the one everybody shares. */
function candidateKeys(base: string, scope: string | null): string[] {
  return scope ? [`${base}|${scope}`, `${base}|public`] : [`${base}|public`];
}

/** Where an answer is kept: PRIVATE only under a principal (never for an anonymous caller). */
function storeKey(base: string, policy: CachePolicy, scope: string | null): string | null {
  if (policy.scope === 'PUBLIC') return `${base}|public`;
  return scope ? `${base}|${scope}` : null;
}

/** The representation's own entity, by `__typename` and `id`. */
function representationTag(representation: unknown): string[] {
  const { __typename, id } = (representation ?? {}) as { __typename?: unknown; id?: unknown };
  return typeof __typename === 'string' && (typeof id === 'string' || typeof id === 'number') ? [entityTag(__typename, String(id))] : [];
}

const operationKinds = new WeakMap<DocumentNode, boolean>();

/** Whether the subgraph operation is a query (never merge a mutation). */
function isQuery(document: DocumentNode | undefined, query: string | undefined): boolean {
  if (document) {
    let known = operationKinds.get(document);
    if (known === undefined) {
      const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      known = operations.length === 1 && operations[0]!.operation === 'query';
      operationKinds.set(document, known);
    }
    return known;
  }
  // The query planner writes `query Name__subgraph__0(...){...}` or `{...}` for queries.
  const text = query?.trimStart() ?? '';
  if (!text.startsWith('{') && !/^query\b/.test(text)) return false;
  // One text may hold several operations, the one to run chosen by operationName: a text that
  // starts with a query may still hold a mutation. Names anywhere in it are the cheap check.
  if (!text.includes('mutation') && !text.includes('subscription')) return true;
  let depth = 0;
  try {
    const lexer = new Lexer(new Source(text));
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.PAREN_L || token.kind === TokenKind.BRACKET_L) depth++;
      else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.PAREN_R || token.kind === TokenKind.BRACKET_R) depth--;
      // At the top level these can only be an operation's keyword (or, harmlessly, a name: then not merged).
      else if (depth === 0 && token.kind === TokenKind.NAME && (token.value === 'mutation' || token.value === 'subscription')) return false;
    }
  } catch {
    return false; // not GraphQL: the subgraph will reject it; nothing to merge
  }
  return true;
}

/**
 * Whether the operation is the planner's entity fetch, `query(...){_entities(representations:$representations){...}}`.
 * A client's own variable may be called `representations` too (and reaches the subgraph as is in a root
 * fetch); that list must never be shortened. Clients cannot select `_entities` (the API schema has no
 * such field), and an alias `_entities: field` is followed by a colon, not arguments.
 */
function isEntityFetch(query: string | undefined): boolean {
  if (!query?.includes('_entities')) return false;
  let parens = 0;
  try {
    const lexer = new Lexer(new Source(query));
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      if (token.kind === TokenKind.PAREN_L) parens++;
      else if (token.kind === TokenKind.PAREN_R) parens--;
      else if (token.kind === TokenKind.BRACE_L && parens === 0) {
        const field = lexer.advance();
        return field.kind === TokenKind.NAME && field.value === '_entities' && lexer.lookahead().kind === TokenKind.PAREN_L;
      }
    }
  } catch {
    // not GraphQL
  }
  return false;
}

/** Distinct representations in first-seen order and, per original position, its index among them; null when all are distinct. */
function uniqueRepresentations(representations: unknown[]): { representations: unknown[]; indexOf: number[] } | null {
  if (representations.length < 2) return null;
  const seen = new Map<string, number>();
  const unique: unknown[] = [];
  const indexOf: number[] = new Array(representations.length);
  for (let i = 0; i < representations.length; i++) {
    const representation = representations[i];
    const key = JSON.stringify(representation);
    let index = seen.get(key);
    if (index === undefined) {
      index = unique.length;
      seen.set(key, index);
      unique.push(representation);
    }
    indexOf[i] = index;
  }
  return unique.length === representations.length ? null : { representations: unique, indexOf };
}

/**
 * Rebuilds the answer the subgraph would have given to the full list: `_entities` in the
 * original positions (each its own copy, as the gateway merges into them), and every error at
 * `_entities.<i>` repeated for each position that shared that representation.
 */
function fanOutEntities(response: GatewayGraphQLResponse, indexOf: number[], uniqueCount: number): GatewayGraphQLResponse {
  const data = response.data as { _entities?: unknown } | null | undefined;
  // A subgraph that answered the wrong number of entities is left for the gateway to report as such.
  if (data && Array.isArray(data._entities) && data._entities.length !== uniqueCount) return response;
  let result: GatewayGraphQLResponse = response;
  if (data && Array.isArray(data._entities)) {
    const entities = data._entities as unknown[];
    const used = new Array<boolean>(entities.length).fill(false);
    const expanded = indexOf.map((u) => {
      const entity = entities[u];
      if (!used[u]) {
        used[u] = true;
        return entity;
      }
      return entity === null || typeof entity !== 'object' ? entity : structuredClone(entity);
    });
    result = { ...result, data: { ...data, _entities: expanded } };
  }
  if (response.errors?.length) {
    const positions = new Map<number, number[]>();
    indexOf.forEach((u, i) => {
      const list = positions.get(u);
      if (list) list.push(i);
      else positions.set(u, [i]);
    });
    const errors = response.errors.flatMap((error) => {
      const path = error.path;
      if (!path || path[0] !== '_entities' || typeof path[1] !== 'number') return [error];
      const at = positions.get(path[1]);
      if (!at) return [error];
      return at.map((i) => ({ ...error, path: ['_entities', i, ...path.slice(2)] }));
    });
    result = { ...result, errors };
  }
  return result;
}
