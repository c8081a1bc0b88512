import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph } from '@vibestream/platform';
import { mintToken, probeSubgraph, startTestStack, type TestStack } from '@vibestream/testkit';
import { startGateway, type RunningGateway } from '../src/index.ts';

/** Serves two live fields (read back through `trade` and `orderBook`) without the market subgraph. */
const probeSdl = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.12", import: ["@key"])
type Trade { id: ID!, priceCents: Int! }
type Book { songId: ID!, depth: Int! }
type Query {
  trade(id: ID!): Trade
  orderBook(songId: ID!): Book!
}
type Subscription {
  tradeExecuted(songId: ID!): Trade!
  orderBookUpdated(songId: ID!): Book!
}
`;

const marketProbe = probeSubgraph('market', probeSdl, {
  Query: {
    trade: (_: unknown, { id }: { id: string }) => ({ id, priceCents: 100 }),
    orderBook: (_: unknown, { songId }: { songId: string }) => ({ songId, depth: 3 }),
  },
});

let stack: TestStack;
let capped: RunningGateway;
const clients: Client[] = [];

beforeAll(async () => {
  stack = await startTestStack('subscriptionhardening', [marketProbe]);
  const { supergraph } = composeSupergraph([marketProbe], (m) => stack.subgraphs.get(m.name)!.url);
  capped = await startGateway({
    env: { ...stack.env, HOST: '127.0.0.1', WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS: '3', TRUSTED_PROXIES: '127.0.0.1' },
    supergraphSdl: supergraph,
    port: 0,
    log: stack.log,
    live: stack.infra.live,
  });
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await capped?.stop();
  await stack?.stop();
});

interface Closed {
  code: number;
  reason: string;
}

/** A graphql-ws connection; `forwardedFor` is sent as X-Forwarded-For on the upgrade request. */
function connect(port: number, options: { token?: string; forwardedFor?: string } = {}) {
  let onClosed!: (closed: Closed) => void;
  let onConnected!: () => void;
  const closed = new Promise<Closed>((resolve) => (onClosed = resolve));
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const headers = options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {};
  const client = createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: class extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers });
      }
    },
    lazy: false,
    retryAttempts: 0,
    connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : {},
    on: {
      connected: () => onConnected(),
      closed: (event) => onClosed({ code: (event as Closed).code, reason: String((event as Closed).reason) }),
    },
  });
  clients.push(client);
  return { client, closed, connected };
}

interface Outcome {
  events: Record<string, unknown>[];
  errors: { message: string; extensions?: { code?: string } }[];
}

function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}, operationName?: string) {
  const outcome: Outcome = { events: [], errors: [] };
  const done = new Promise<void>((resolve) =>
    client.subscribe(
      { query, variables, ...(operationName ? { operationName } : {}) },
      {
        next: (value) =>
          value.errors ? outcome.errors.push(...(value.errors as Outcome['errors'])) : outcome.events.push(value.data as Record<string, unknown>),
        error: (error) => (
          outcome.errors.push(...(Array.isArray(error) ? error : [{ message: String((error as { reason?: string }).reason ?? error) }])),
          resolve()
        ),
        complete: () => resolve(),
      },
    ),
  );
  return { outcome, done };
}

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

/** Publishes until the subscription has an event (its live subscription may still be on its way). */
async function publishUntilDelivered(topic: string, payload: Record<string, unknown>, outcome: Outcome) {
  for (let i = 0; i < 40 && outcome.events.length === 0 && outcome.errors.length === 0; i++) {
    await stack.infra.live.publish(topic, payload);
    await until(() => outcome.events.length > 0, 250);
  }
}

const gatewayPort = () => new URL(stack.publicUrl).port as unknown as number;
let song = 0;
const newSong = () => `song-${++song}-${Date.now()}`;

describe('subscription roots', () => {
  it.each([
    ['an inline fragment', (s: string) => `subscription { ... on Subscription { tradeExecuted(songId: "${s}") { id priceCents } } }`, 'tradeExecuted'],
    ['an inline fragment without a type condition', (s: string) => `subscription { ... { tradeExecuted(songId: "${s}") { id priceCents } } }`, 'tradeExecuted'],
    [
      'a fragment spread, aliased',
      (s: string) => `subscription { ...Live } fragment Live on Subscription { trades: tradeExecuted(songId: "${s}") { id priceCents } }`,
      'trades',
    ],
    [
      'nested fragments',
      (s: string) =>
        `subscription { ... on Subscription { ...Live } } fragment Live on Subscription { ... { tradeExecuted(songId: "${s}") { id priceCents } } }`,
      'tradeExecuted',
    ],
    [
      'the same field twice, its selections merged',
      (s: string) => `subscription { tradeExecuted(songId: "${s}") { id } ... on Subscription { tradeExecuted(songId: "${s}") { priceCents } } }`,
      'tradeExecuted',
    ],
  ])('serves a root field reached through %s', async (_, query, key) => {
    const songId = newSong();
    const { client } = connect(gatewayPort());
    const { outcome } = subscribe(client, query(songId));
    await publishUntilDelivered(`tradeExecuted:${songId}`, { id: 'trade-1' }, outcome);
    expect(outcome.errors).toEqual([]);
    expect(outcome.events[0]).toEqual({ [key]: { id: 'trade-1', priceCents: 100 } });
  });

  it('refuses roots that are not exactly one unconditional live field with a clear error, and the connection stays open', async () => {
    const { client, closed } = connect(gatewayPort());
    let closedWith: Closed | null = null;
    void closed.then((c) => (closedWith = c));
    const refused: [string, string, Record<string, unknown>?, string?][] = [
      // A subscription's root field is never conditional (GraphQL spec, "Single Root Field").
      ['subscription { tradeExecuted(songId: "a") @skip(if: true) { id } }', 'GRAPHQL_VALIDATION_FAILED'],
      ['subscription { tradeExecuted(songId: "a") @include(if: true) { id } }', 'GRAPHQL_VALIDATION_FAILED'],
      ['subscription ($on: Boolean!) { ... @include(if: $on) { tradeExecuted(songId: "a") { id } } }', 'GRAPHQL_VALIDATION_FAILED', { on: true }],
      [
        'subscription ($on: Boolean!) { ...Live @skip(if: $on) } fragment Live on Subscription { tradeExecuted(songId: "a") { id } }',
        'GRAPHQL_VALIDATION_FAILED',
        { on: false },
      ],
      ['subscription { tradeExecuted(songId: "a") { id } orderBookUpdated(songId: "a") { depth } }', 'GRAPHQL_VALIDATION_FAILED'],
      [
        'subscription { tradeExecuted(songId: "a") { id } ...Book } fragment Book on Subscription { orderBookUpdated(songId: "a") { depth } }',
        'GRAPHQL_VALIDATION_FAILED',
      ],
      ['subscription { __typename }', 'GRAPHQL_VALIDATION_FAILED'],
      ['subscription { ... on Subscription { __typename } }', 'GRAPHQL_VALIDATION_FAILED'],
      ['subscription A { tradeExecuted(songId: "a") { id } } subscription B { orderBookUpdated(songId: "a") { depth } }', 'BAD_USER_INPUT'],
      ['subscription A { tradeExecuted(songId: "a") { id } }', 'BAD_USER_INPUT', {}, 'Nope'],
    ];
    for (const [query, code, variables, operationName] of refused) {
      const { outcome, done } = subscribe(client, query, variables, operationName);
      await done;
      expect(outcome.events, query).toEqual([]);
      expect(
        outcome.errors.map((e) => e.extensions?.code),
        query,
      ).toEqual([code]);
      expect(outcome.errors[0]!.message, query).not.toMatch(/undefined|Cannot read|TypeError|\.ts:/);
    }
    // The same connection still serves a good subscription.
    const songId = newSong();
    const { outcome } = subscribe(client, `subscription { ... on Subscription { tradeExecuted(songId: "${songId}") { id } } }`);
    await publishUntilDelivered(`tradeExecuted:${songId}`, { id: 'trade-2' }, outcome);
    expect(outcome.events[0]).toEqual({ tradeExecuted: { id: 'trade-2' } });
    expect(closedWith).toBeNull();
  });
});

describe('a subscription sent over HTTP', () => {
  it('is refused with 400 BAD_REQUEST, also when its root is conditional on a variable (graphql-js threw: 500)', async () => {
    for (const query of [
      'subscription ($on: Boolean!) { ... @include(if: $on) { tradeExecuted(songId: "a") { id } } }',
      'query Q { trade(id: "1") { id } } subscription S ($on: Boolean!) { tradeExecuted(songId: "a") @skip(if: $on) { id } }',
    ]) {
      const res = await fetch(stack.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables: { on: true }, operationName: query.startsWith('query') ? 'Q' : undefined }),
      });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_REQUEST');
    }
  });
});

describe('anonymous connections per client address', () => {
  it('closes anonymous connections beyond WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS with 4429, counting each address on its own', async () => {
    const open = [connect(capped.port), connect(capped.port), connect(capped.port)];
    await Promise.all(open.map((c) => c.connected));
    const fourth = connect(capped.port);
    expect(await fourth.closed).toEqual({ code: 4429, reason: expect.stringContaining('anonymous connections') });

    // Signed-in connections are limited per user instead; another address has its own count.
    const token = await mintToken(stack.keys, { userId: 'listener-1' });
    const signedIn = connect(capped.port, { token });
    const elsewhere = connect(capped.port, { forwardedFor: '203.0.113.7' });
    await Promise.all([signedIn.connected, elsewhere.connected]);

    // A closed connection frees its place.
    await open[0]!.client.dispose();
    await until(() => capped.subscriptions.connections() === 4);
    const again = connect(capped.port);
    await again.connected;
  });
});

describe('messages only a server sends', () => {
  it('are refused as bad requests (4400) with no internal text, and the gateway keeps serving', async () => {
    for (const type of ['next', 'error', 'connection_ack']) {
      const socket = new WebSocket(`ws://127.0.0.1:${stack.gateway.port}/graphql`, 'graphql-transport-ws');
      const closed = new Promise<Closed>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      socket.send(JSON.stringify({ type, id: '1', payload: {} }));
      // graphql-ws threw on these in its default branch: 4500 "Unexpected message of type next received".
      expect(await closed, type).toEqual({ code: 4400, reason: 'Invalid message received' });
    }
    const fine = connect(stack.gateway.port);
    await fine.connected;
    clients.push(fine.client);
  });
});
