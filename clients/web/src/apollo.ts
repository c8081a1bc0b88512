import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, type FetchResult } from '@apollo/client';
import { ServerError } from '@apollo/client/errors';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import { print, type DocumentNode } from 'graphql';
import { catchError, defer, mergeMap, of, throwError } from 'rxjs';
import { currentSession, freshAccessToken, refreshAccessToken, subscribeSession } from './auth/session.ts';
import { GRAPHQL_PATH, documentIdOf } from './graphql-http.ts';

/**
 * Operations sent with `context: { anonymous: true }` never carry the access token: a reward
 * claim must not be linkable to the account that listened.
 */
export interface AppContext {
  anonymous?: boolean;
}

function hasUnauthenticated(result: FetchResult): boolean {
  return (result.errors ?? []).some((e) => e.extensions?.code === 'UNAUTHENTICATED');
}

/** The gateway answers a token it refuses with HTTP 401 before any resolver runs. */
function isRefusedToken(error: unknown): boolean {
  return ServerError.is(error) && error.statusCode === 401;
}

/**
 * Adds `Authorization: Bearer`, refreshing the access token shortly before it expires. When the
 * gateway or a subgraph still answers UNAUTHENTICATED (the token was revoked or the keys
 * rotated), refreshes once and retries once.
 */
const authLink = new ApolloLink((operation, forward) => {
  if ((operation.getContext() as AppContext).anonymous) return forward(operation);
  let sentToken: string | null = null;
  let retried = false;
  const send = (token: Promise<string | null>) =>
    defer(() => token).pipe(
      mergeMap((accessToken) => {
        sentToken = accessToken;
        operation.setContext(({ headers }: { headers?: Record<string, string> }) => {
          const next: Record<string, string> = { ...headers };
          if (accessToken) next.authorization = `Bearer ${accessToken}`;
          else delete next.authorization;
          return { headers: next };
        });
        return forward(operation);
      }),
    );
  const canRetry = () => sentToken !== null && !retried;
  const retry = () => {
    retried = true;
    return send(refreshAccessToken(sentToken!));
  };
  return send(freshAccessToken()).pipe(
    mergeMap((result) => (canRetry() && hasUnauthenticated(result) ? retry() : of(result))),
    catchError((error: unknown) => (canRetry() && isRefusedToken(error) ? retry() : throwError(() => error))),
  );
});

/**
 * Persisted documents: each generated document carries its manifest id; the first request sends
 * only the id, and the text follows only when the gateway answers PERSISTED_QUERY_NOT_FOUND (a
 * gateway with another manifest). A gateway that accepts only persisted documents is served by ids.
 */
const persistedLink = new PersistedQueryLink({
  generateHash: (document: DocumentNode) => documentIdOf(document) ?? sha256Hex(print(document)),
});

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const httpLink = new HttpLink({ uri: GRAPHQL_PATH });

/** graphql-ws on the same /graphql URL; the token travels in connection_init. */
export const wsClient = createClient({
  url: () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${GRAPHQL_PATH}`,
  connectionParams: async () => {
    const token = await freshAccessToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  },
  lazy: true,
  retryAttempts: Number.POSITIVE_INFINITY,
  shouldRetry: () => true,
});

// The gateway closes a socket when its token expires: reconnect (and resubscribe) with the new
// token whenever the session changes (refreshed, signed in, signed out).
let connectedAs = currentSession()?.accessToken ?? null;
subscribeSession(() => {
  const token = currentSession()?.accessToken ?? null;
  if (token === connectedAs) return;
  connectedAs = token;
  wsClient.terminate();
});

/** Whether the live connection is up (the UI shows it next to live data). */
let liveConnected = false;
const liveListeners = new Set<() => void>();
const setLive = (connected: boolean) => {
  liveConnected = connected;
  liveListeners.forEach((l) => l());
};
wsClient.on('connected', () => setLive(true));
wsClient.on('closed', (event) => {
  setLive(false);
  // 4401: the token expired on an open socket; 4403: the gateway refused it. Either way the
  // subscriptions end (useLive starts them again): get a new token for that next attempt.
  const code = (event as { code?: number } | undefined)?.code;
  const token = currentSession()?.accessToken;
  if ((code === 4401 || code === 4403) && token) void refreshAccessToken(token).catch(() => undefined);
});
export const liveConnection = {
  subscribe: (listener: () => void) => {
    liveListeners.add(listener);
    return () => liveListeners.delete(listener);
  },
  connected: () => liveConnected,
};

const wsLink = new GraphQLWsLink(wsClient);

const isSubscription = (operation: { query: DocumentNode }) => {
  const definition = getMainDefinition(operation.query);
  return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
};

export const client = new ApolloClient({
  link: ApolloLink.split(isSubscription, wsLink, ApolloLink.from([authLink, persistedLink, httpLink])),
  cache: new InMemoryCache({
    typePolicies: {
      // Books and markets are values of a song, not entities with ids of their own.
      OrderBook: { keyFields: ['songId'] },
      User: { fields: { openOrders: { merge: false } } },
    },
  }),
});
