import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, parse, validate, valueFromAST, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  bearerToken,
  withoutSuggestions,
  type LiveEvents,
  type Logger,
  type Principal,
  type SessionRevocations,
  type TokenVerifier,
} from '@vibestream/platform';
import type { GatewayContext } from '../context.ts';
import { liveFields } from './live-fields.ts';
import { assertWithinLimits, rateLimitedError, type QueryLimits, type RequestLimiter } from '../limits/index.ts';
import { prepareSubscription, SharedLookups, type PreparedSubscription } from './payload-resolver.ts';
import { subscriptionRoot, subscriptionValidationRules, type SubscriptionRoot } from './root-field.ts';

/** Close codes a client may see, besides graphql-ws's own. */
export const CloseCode = {
  TokenExpired: 4401,
  InvalidToken: 4403,
  TooManyConnections: 4429,
  SlowConsumer: 4420,
} as const;

export interface SubscriptionLimits {
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerUser: number;
  /** Connections without a token from one client address. */
  maxAnonymousConnectionsPerAddress: number;
  /** Bytes queued on a socket before the connection is closed as a slow consumer. */
  maxBufferedBytes: number;
  /** Events resolved but not yet sent, per subscription. */
  maxQueuedEvents: number;
}

export const defaultSubscriptionLimits: SubscriptionLimits = {
  maxSubscriptionsPerConnection: 50,
  maxConnectionsPerUser: 20,
  maxAnonymousConnectionsPerAddress: 50,
  maxBufferedBytes: 1_048_576,
  maxQueuedEvents: 500,
};

interface ConnectionState {
  principal: Principal | null;
  authorization: string | null;
  subscriptions: number;
  expiryTimer?: NodeJS.Timeout;
}

/** What onSubscribe hands to subscribe for one subscription. */
interface LiveContext {
  state: ConnectionState;
  socket: WebSocket;
  root: SubscriptionRoot;
}

/** Callbacks for the gateway's metrics: connections, live subscriptions and event delivery. */
export interface SubscriptionObserver {
  connectionOpened?: () => void;
  connectionClosed?: () => void;
  subscriptionStarted?: () => void;
  subscriptionEnded?: () => void;
  /** A live event's result reached a subscriber's iterator, `lagSeconds` after the event was published. */
  eventDelivered?: (lagSeconds: number) => void;
}

export interface SubscriptionServer {
  lookups(): number;
  connections(): number;
  close(): Promise<void>;
}

/**
 * graphql-ws on the gateway's own /graphql. Each event's payload carries keys; every
 * subscriber's selection is resolved through the supergraph in-process, shared between
 * subscribers with the same selection, variables and principal (or all of them, when the
 * selection reads only public fields).
 */
/** The graphql-transport-ws message types a client may send. */
const clientMessageTypes = new Set(['connection_init', 'ping', 'pong', 'subscribe', 'complete']);

/**
 * Refuses a message of a type only servers send (`next`, `error`, `connection_ack`) while it is
 * parsed, so graphql-ws closes with 4400 "Invalid message received": its handler would otherwise
 * reach its default branch, throw, print a stack and close with 4500. (The reviver sees the whole
 * message last, under the key "".)
 */
function onlyClientMessages(key: string, value: unknown): unknown {
  if (key === '' && typeof value === 'object' && value !== null && !clientMessageTypes.has(String((value as { type?: unknown }).type))) {
    throw new SyntaxError('not a client message');
  }
  return value;
}

export function attachSubscriptions(options: {
  server: Server;
  schema: () => GraphQLSchema | null;
  publicFields: () => Set<string>;
  verifier: TokenVerifier;
  /** A connection whose session is signed out closes at once (4403). */
  revocations?: SessionRevocations;
  live: LiveEvents;
  execute: (document: DocumentNode, variables: Record<string, unknown>, context: GatewayContext) => Promise<ExecutionResult>;
  log: Logger;
  limits?: Partial<SubscriptionLimits>;
  /** Depth, alias and cost limits (and the cost directives), as for HTTP operations. */
  queryLimits?: QueryLimits;
  requestLimiter?: RequestLimiter | null;
  clientAddressOf?: (request: IncomingMessage) => string;
  observer?: SubscriptionObserver;
  /** No "Did you mean …?" in validation errors (production). */
  hideSchemaDetails?: boolean;
}): SubscriptionServer {
  const limits = { ...defaultSubscriptionLimits, ...options.limits };
  const lookups = new SharedLookups();
  const states = new WeakMap<WebSocket, ConnectionState>();
  // Signed-in connections count against their user; anonymous ones against their client address.
  const perUser = new ConnectionCounts();
  const anonymousPerAddress = new ConnectionCounts();
  const addressOf = (request: IncomingMessage) => options.clientAddressOf?.(request) ?? request.socket.remoteAddress ?? 'unknown';
  const bySession = new Map<string, Set<WebSocket>>();
  const stopWatchingRevocations = options.revocations?.onRevoked((sessionId) => {
    for (const socket of bySession.get(sessionId) ?? []) socket.close(CloseCode.InvalidToken, 'Session signed out');
  });
  // In the same turn as the verifier's revocation check, so no revocation falls between the two.
  const trackSession = (sessionId: string, socket: WebSocket) => {
    const sockets = bySession.get(sessionId) ?? new Set<WebSocket>();
    bySession.set(sessionId, sockets.add(socket));
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0 && bySession.get(sessionId) === sockets) bySession.delete(sessionId);
    });
  };
  const wss = new WebSocketServer({ server: options.server, path: '/graphql' });
  const observer = options.observer ?? {};
  if (observer.connectionOpened || observer.connectionClosed) {
    wss.on('connection', (socket: WebSocket) => {
      observer.connectionOpened?.();
      socket.once('close', () => observer.connectionClosed?.());
    });
  }
  const publishedAt = publicationTimes();

  const disposable = useServer<Record<string, unknown>, { state: ConnectionState }>(
    {
      schema: () => options.schema() as GraphQLSchema,
      jsonMessageReviver: onlyClientMessages,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const header = typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : null;
        let principal: Principal | null = null;
        try {
          const token = bearerToken(header);
          if (token) principal = await options.verifier(token);
        } catch {
          socket.close(CloseCode.InvalidToken, 'Invalid or expired access token');
          return false;
        }
        const [counts, key, max, what] = principal
          ? [perUser, principal.userId, limits.maxConnectionsPerUser, 'connections per user']
          : [anonymousPerAddress, addressOf(ctx.extra.request), limits.maxAnonymousConnectionsPerAddress, 'anonymous connections per address'];
        if (!counts.acquire(key, max)) {
          socket.close(CloseCode.TooManyConnections, `At most ${max} ${what}`);
          return false;
        }
        const state: ConnectionState = { principal, authorization: header, subscriptions: 0 };
        if (principal) {
          const ms = principal.expiresAt * 1000 - Date.now();
          state.expiryTimer = setTimeout(() => socket.close(CloseCode.TokenExpired, 'Access token expired'), Math.max(0, ms));
          state.expiryTimer.unref();
        }
        states.set(socket, state);
        if (principal) trackSession(principal.sessionId, socket);
        socket.once('close', () => {
          if (state.expiryTimer) clearTimeout(state.expiryTimer);
          counts.release(key);
        });
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const schema = options.schema();
        if (!schema) return [new GraphQLError('The supergraph is not loaded yet', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })];
        const state = states.get(ctx.extra.socket)!;
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [new GraphQLError((error as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const errors = validate(schema, document, subscriptionValidationRules);
        if (errors.length) {
          const messageOf = (e: GraphQLError) => (options.hideSchemaDetails ? withoutSuggestions(e.message) : e.message);
          return errors.map((e) => new GraphQLError(messageOf(e), { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
        }
        const root = subscriptionRoot(document, payload.operationName);
        if (root instanceof GraphQLError) return [root];
        if (!Object.hasOwn(liveFields, root.name)) return [new GraphQLError(`${root.name} is not served live`, { extensions: { code: 'BAD_USER_INPUT' } })];
        if (options.requestLimiter) {
          const verdict = await options.requestLimiter.check({ userId: state.principal?.userId ?? null, address: addressOf(ctx.extra.request) });
          if (!verdict.allowed) return [rateLimitedError(verdict.retryAfterSeconds)];
        }
        try {
          assertWithinLimits(schema, document, payload.operationName, payload.variables ?? undefined, options.queryLimits);
        } catch (error) {
          return [error as GraphQLError];
        }
        if (state.subscriptions >= limits.maxSubscriptionsPerConnection) {
          return [new GraphQLError(`At most ${limits.maxSubscriptionsPerConnection} subscriptions per connection`, { extensions: { code: 'RATE_LIMITED' } })];
        }
        state.subscriptions++;
        return {
          schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? {},
          contextValue: { state, socket: ctx.extra.socket, root } satisfies LiveContext,
        };
      },
      onComplete: (ctx) => {
        const state = states.get(ctx.extra.socket);
        if (state) state.subscriptions = Math.max(0, state.subscriptions - 1);
      },
      subscribe: async (args) => {
        const { state, socket, root } = args.contextValue as LiveContext;
        const live = liveFields[root.name]!;
        const variables = (args.variableValues ?? {}) as Record<string, unknown>;
        let topic: string;
        let prepared: PreparedSubscription;
        try {
          const fieldDef = args.schema.getSubscriptionType()!.getFields()[root.name]!;
          const fieldArgs = Object.fromEntries(
            (root.fields[0]!.arguments ?? []).map((a) => [
              a.name.value,
              valueFromAST(a.value, fieldDef.args.find((d) => d.name === a.name.value)!.type, variables),
            ]),
          );
          topic = live.topic(fieldArgs, state.principal);
          prepared = prepareSubscription(
            args.schema,
            args.document,
            root,
            variables,
            liveFields,
            options.publicFields(),
            state.principal?.userId ?? 'anonymous',
          );
        } catch (error) {
          return {
            errors: [
              error instanceof GraphQLError ? error : new GraphQLError('Could not start the subscription', { extensions: { code: 'INTERNAL_SERVER_ERROR' } }),
            ],
          };
        }
        const shared = prepared.shareKey.endsWith('|public');
        const context: GatewayContext = {
          requestId: `live-${topic}`,
          principal: shared ? null : state.principal,
          authorization: shared ? null : state.authorization,
          clientAddress: 'subscription',
        };
        return liveIterator({
          subscribe: (listener) => options.live.subscribe(topic, listener),
          resolve: async (event) => {
            const result = await lookups.resolve(event, prepared, (document, vars) => options.execute(document, vars, context));
            return result;
          },
          overflow: () => {
            if (socket.bufferedAmount > limits.maxBufferedBytes) return true;
            return false;
          },
          maxQueued: limits.maxQueuedEvents,
          onOverflow: () => socket.close(CloseCode.SlowConsumer, 'Outgoing buffer overflow: the client reads too slowly'),
          responseKey: prepared.responseKey,
          log: options.log,
          publishedAt,
          observer,
        });
      },
    },
    wss,
  );

  return {
    lookups: () => lookups.lookups,
    connections: () => wss.clients.size,
    close: async () => {
      stopWatchingRevocations?.();
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Open connections per key (a user, an address), each key holding at most a given number. */
class ConnectionCounts {
  private readonly counts = new Map<string, number>();

  acquire(key: string, max: number): boolean {
    const count = this.counts.get(key) ?? 0;
    if (count >= max) return false;
    this.counts.set(key, count + 1);
    return true;
  }

  release(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

/**
 * When a live event was published, in ms: its `occurredAt` or `executedAt` when it carries one,
 * else its `publishedAt` (ms), else the moment this gateway first received that payload (kept
 * per payload object, which every local subscriber of a topic shares, so not written into it).
 */
function publicationTimes(): (event: Record<string, unknown>) => number {
  const receivedAt = new WeakMap<object, number>();
  return (event) => {
    for (const field of ['occurredAt', 'executedAt', 'publishedAt']) {
      const value = event[field];
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (Number.isFinite(ms)) return ms;
    }
    let at = receivedAt.get(event);
    if (at === undefined) receivedAt.set(event, (at = Date.now()));
    return at;
  };
}

/**
 * An async iterator over one subscription's events, in arrival order: each event's lookup may
 * finish in any order, but results are yielded in the order the events came.
 */
function liveIterator(options: {
  subscribe: (listener: (payload: Record<string, unknown>) => void) => Promise<() => Promise<void>>;
  resolve: (event: Record<string, unknown>) => Promise<ExecutionResult>;
  overflow: () => boolean;
  onOverflow: () => void;
  maxQueued: number;
  responseKey: string;
  log: Logger;
  publishedAt: (event: Record<string, unknown>) => number;
  observer: SubscriptionObserver;
}): AsyncIterableIterator<ExecutionResult> {
  const queue: { result: Promise<ExecutionResult | null>; publishedAt: number }[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  let counted = true;
  options.observer.subscriptionStarted?.();
  const uncount = () => {
    if (!counted) return;
    counted = false;
    options.observer.subscriptionEnded?.();
  };
  const ready = options.subscribe((event) => {
    if (done) return;
    if (queue.length >= options.maxQueued || options.overflow()) {
      done = true;
      options.onOverflow();
      wake?.();
      return;
    }
    queue.push({
      publishedAt: options.publishedAt(event),
      result: options
        .resolve(event)
        .then((result) => {
          const value = result.data?.[options.responseKey];
          if (value == null && !result.errors?.length) return null;
          // Errors of the lookup are already formatted (masked) by Apollo; graphql-ws wants GraphQLError objects.
          const errors = result.errors?.map((e) => new GraphQLError(e.message, { path: e.path ?? undefined, extensions: e.extensions ?? {} }));
          return { data: { [options.responseKey]: value ?? null }, ...(errors ? { errors } : {}) } as ExecutionResult;
        })
        .catch((error: unknown) => {
          options.log.warn({ err: error }, 'live event could not be resolved');
          return { errors: [new GraphQLError('This event could not be resolved', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })] } as ExecutionResult;
        }),
    });
    wake?.();
  });
  const finish = async () => {
    done = true;
    uncount();
    wake?.();
    await (
      await ready
    )();
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<ExecutionResult>> {
      await ready;
      for (;;) {
        if (queue.length > 0) {
          const item = queue.shift()!;
          const result = await item.result;
          if (result) {
            options.observer.eventDelivered?.(Math.max(0, Date.now() - item.publishedAt) / 1000);
            return { value: result, done: false };
          }
          continue;
        }
        if (done) {
          uncount();
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<ExecutionResult>> {
      await finish();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
      await finish();
      throw error;
    },
  };
}
