import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { guardEntities, type EventEnvelope, type Principal, type Session } from '@vibestream/platform';
import { eventually, publishEvent, type ContextHarness, type TestStack } from '@vibestream/testkit';
import { SongPublished } from '@vibestream/catalog/events';
import { notificationsSubgraph } from '../src/app.ts';
import { createLoaders } from '../src/loaders.ts';
import { PushSubscriptions } from '../src/push.ts';
import { resolvers, type NotificationsContext } from '../src/resolvers.ts';
import type { NotificationsService } from '../src/service.ts';

export const MY_NOTIFICATIONS = `query MyNotifications($first: Int, $after: String, $unreadOnly: Boolean) {
  me {
    unreadNotificationCount
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      totalCount
      edges { cursor node { id kind title body createdAt readAt song { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
export const MARK_READ = `mutation MarkNotificationsRead($ids: [ID!]!) { markNotificationsRead(ids: $ids) }`;
export const UPDATE_PREFERENCES = `mutation UpdateNotificationPreferences($input: NotificationPreferencesInput!) {
  updateNotificationPreferences(input: $input) { kinds { kind enabled } }
}`;
export const NOTIFICATION = `query($id: ID!) { notification(id: $id) { id kind title body } }`;
export const ON_NOTIFICATION = `subscription OnNotificationAdded { notificationAdded { id kind title body createdAt } }`;

export interface NotificationNode {
  id: string;
  kind: string;
  title: string;
  body: string;
  createdAt: string;
  readAt: string | null;
  song: { id: string } | null;
}
export interface MyNotifications {
  me: {
    unreadNotificationCount: number;
    notifications: {
      totalCount: number;
      edges: { cursor: string; node: NotificationNode }[];
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };
}

/** Waits until notifications' consumer has handled every given event (whatever it did with it). */
export async function handled(db: pg.Client, envelopes: EventEnvelope[]): Promise<void> {
  const ids = [...new Set(envelopes.map((e) => e.id))];
  const count = await eventually(
    async () =>
      Number(
        (await db.query(`select count(*) from notifications.handled_events where consumer = 'notifications' and event_id = any($1::uuid[])`, [ids])).rows[0]
          .count,
      ),
    (n) => n === ids.length,
    15_000,
  );
  if (count !== ids.length) throw new Error(`only ${count} of ${ids.length} events were handled`);
}

/** A song notifications knows the title of. */
export async function publishSong(stack: TestStack, db: pg.Client, title: string): Promise<string> {
  const songId = randomUUID();
  const envelopes = await publishEvent(stack, SongPublished, {
    songId,
    artistId: randomUUID(),
    artistUserId: randomUUID(),
    title,
    genre: 'Pop',
    durationSeconds: 200,
    publishedAt: new Date().toISOString(),
  });
  await handled(db, envelopes);
  return songId;
}

export interface LiveSubscription<T> {
  events: T[];
  errors: unknown[];
  /** Resolves once the server acknowledged the connection (and had a moment to subscribe). */
  ready: Promise<void>;
}

/** A graphql-ws client subscribed through the gateway; dispose the returned client after the test. */
export function subscribe<T>(gatewayUrl: string, query: string, token?: string): { client: Client; subscription: LiveSubscription<T> } {
  const events: T[] = [];
  const errors: unknown[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const client = createClient({
    url: gatewayUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { connected: () => setTimeout(onReady, 150) },
  });
  client.subscribe<T>(
    { query },
    { next: (v) => (v.errors ? errors.push(...v.errors) : events.push(v.data as T)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { client, subscription: { events, errors, ready } };
}

/** A Principal of a fresh session: of a new user unless `userId` is given. */
export const user = (roles: Principal['roles'] = ['FAN'], userId: string = randomUUID()): Principal => ({
  userId,
  roles,
  sessionId: randomUUID(),
  expiresAt: Date.now() / 1000 + 3600,
});

let schema: GraphQLSchema | undefined;

/** What a document run on notifications' own schema in process is served by. */
export interface InProcess {
  h: ContextHarness;
  service: NotificationsService;
  /** The push subscriptions the resolvers use; by default a store with no push key. */
  push?: PushSubscriptions;
  /** What the loaders read with; by default the harness's reader. */
  reader?: Session;
}

/** Runs a document against notifications' own schema, as its server does for `principal` (its resolvers and loaders, no HTTP). */
export async function queryInProcess<T>(
  { h, service, push, reader }: InProcess,
  principal: Principal | null,
  source: string,
  variables: Record<string, unknown> = {},
): Promise<ExecutionResult<T>> {
  schema ??= guardEntities(buildSubgraphSchema([{ typeDefs: notificationsSubgraph.typeDefs, resolvers }]));
  const contextValue: NotificationsContext = {
    requestId: randomUUID(),
    principal,
    clientAddress: '127.0.0.1',
    log: h.log,
    service,
    push: push ?? new PushSubscriptions({ db: h.db, production: false, publicKey: 'no-push-here' }),
    rewardToken: { decimals: 18, symbol: null },
    loaders: createLoaders(reader ?? h.db.reader()),
  };
  return (await graphql({ schema, source, variableValues: variables, contextValue })) as ExecutionResult<T>;
}
