import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { EventEnvelope } from '@vibestream/platform';
import { eventually, publishEvent, type TestStack } from '@vibestream/testkit';
import { SongPublished } from '@vibestream/catalog/events';

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
