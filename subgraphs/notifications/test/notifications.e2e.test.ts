// notifications through the gateway, with the other contexts running: who may read a user's notifications
// by any path the supergraph opens onto the User, live pushes over graphql-ws, error codes as clients
// get them, and notifications fed by the real producers (catalog, rewards, ownership) rather than
// hand-made events: the contracts it imports are the ones those subgraphs record in their outboxes.
// The rules themselves (exactly-once effects, preferences, unread counts, paging) are use-cases.test.ts.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayloadOf } from '@vibestream/platform';
import { errorCode, eventually, mintToken, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { OrderFilled } from '@vibestream/ownership/events';
import { DepositSucceeded } from '@vibestream/payments/events';
import { VoucherIssued } from '@vibestream/rewards/events';
import { BUY_OFFERING, DISTRIBUTE, OFFER, PLACE, deposit, songOnMarket, type Placed } from '@vibestream/ownership/testing';
import { listenAndComplete, newArtist, publishSong, signUp, terminateSnarkjs } from '@vibestream/rewards/testing';
import { notificationsSubgraph } from '../src/index.ts';
import {
  MARK_READ,
  MY_NOTIFICATIONS,
  NOTIFICATION,
  ON_NOTIFICATION,
  UPDATE_PREFERENCES,
  handled,
  publishSong as songNotificationsKnows,
  subscribe,
  type MyNotifications,
} from './helpers.ts';

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;
const clients: Client[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-notif-'));
  stack = await startTestStack('notifications', [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph, notificationsSubgraph], {
    MEDIA_DIR: mediaDir,
    MIN_LISTEN_SECONDS: '1',
    TAKER_FEE_BPS: '0',
  });
  db = stack.db;
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

async function mine(token: string, variables: Record<string, unknown> = {}) {
  const result = await stack.gql<MyNotifications>(MY_NOTIFICATIONS, variables, { token });
  expect(result.errors).toBeUndefined();
  return result.data!.me;
}

function orderFill(userId: string, songId: string, over: Partial<PayloadOf<typeof OrderFilled>> = {}) {
  return {
    orderId: randomUUID(),
    userId,
    songId,
    side: 'BUY' as const,
    quantity: 12,
    averagePriceCents: 125,
    orderQuantity: 12,
    filledQuantity: 12,
    fullyFilled: true,
    ...over,
  };
}

describe('notifications through the gateway', () => {
  it('refuses anonymous callers', async () => {
    expect(errorCode(await stack.gql(UPDATE_PREFERENCES, { input: { kinds: [] } }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(MARK_READ, { ids: [] }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(NOTIFICATION, { id: randomUUID() }))).toBe('UNAUTHENTICATED');
  });

  it("answers another user's notifications to no one but them or an ADMIN, by any path", async () => {
    const owner = await newArtist(stack, 'Private Artist');
    const other = await signUp(stack, 'FAN', 'Nosy');
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    await handled(
      db,
      await publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId: owner.userId, amountCents: 4200, succeededAt: new Date().toISOString() }),
    );
    const [id] = (await mine(owner.token)).notifications.edges.map((e) => e.node.id);

    // catalog's Artist.user is a door to the User: it must not open onto the notifications.
    const THROUGH_ARTIST = `query($id: ID!) { artist(id: $id) { user { id unreadNotificationCount notificationPreferences { kinds { kind } } notifications { totalCount } } } }`;
    const nosy = await stack.gql<{ artist: { user: Record<string, unknown> } }>(THROUGH_ARTIST, { id: owner.artistId }, { token: other.token });
    expect(nosy.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(nosy.data?.artist.user).toMatchObject({ unreadNotificationCount: null, notificationPreferences: null, notifications: null });
    expect(errorCode(await stack.gql(THROUGH_ARTIST, { id: owner.artistId }))).toBe('FORBIDDEN');
    const asAdmin = await stack.gql<{ artist: { user: { unreadNotificationCount: number; notifications: { totalCount: number } } } }>(
      THROUGH_ARTIST,
      { id: owner.artistId },
      { token: admin },
    );
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data!.artist.user).toMatchObject({ unreadNotificationCount: 1, notifications: { totalCount: 1 } });

    expect((await stack.gql<{ notification: unknown }>(NOTIFICATION, { id }, { token: other.token })).data!.notification).toBeNull();
    expect((await stack.gql<{ notification: { body: string } }>(NOTIFICATION, { id }, { token: owner.token })).data!.notification.body).toBe(
      '$42.00 was added to your trading account.',
    );
    expect((await stack.gql<{ notification: { id: string } }>(NOTIFICATION, { id }, { token: admin })).data!.notification.id).toBe(id);
    expect((await stack.gql<{ notification: unknown }>(NOTIFICATION, { id: 'nope' }, { token: owner.token })).data!.notification).toBeNull();
  });
});

describe('live notifications', () => {
  it('pushes a new notification to its user over graphql-ws through the gateway, once, and nothing of a disabled kind', async () => {
    const jack = await signUp(stack, 'FAN', 'Jack');
    const kate = await signUp(stack, 'FAN', 'Kate');
    const songId = await songNotificationsKnows(stack, db, 'Live Wire');
    await stack.gql(UPDATE_PREFERENCES, { input: { kinds: [{ kind: 'REWARD_VOUCHER', enabled: false }] } }, { token: jack.token });

    type Added = { notificationAdded: { id: string; kind: string; title: string; body: string; createdAt: string } };
    const jacks = subscribe<Added>(stack.gatewayUrl, ON_NOTIFICATION, jack.token);
    const kates = subscribe<Added>(stack.gatewayUrl, ON_NOTIFICATION, kate.token);
    const anonymous = subscribe<Added>(stack.gatewayUrl, ON_NOTIFICATION);
    clients.push(jacks.client, kates.client, anonymous.client);
    await Promise.all([jacks.subscription.ready, kates.subscription.ready]);

    const disabled = await publishEvent(stack, VoucherIssued, {
      userId: jack.userId,
      sessionId: randomUUID(),
      songId,
      epoch: 20_416,
      leafIndex: 1,
      amount: '20000000000000000',
    });
    const fill = await publishEvent(
      stack,
      OrderFilled,
      orderFill(jack.userId, songId, { quantity: 3, orderQuantity: 3, filledQuantity: 3, averagePriceCents: 99 }),
      { times: 3 },
    );
    await handled(db, [...disabled, ...fill]);
    await eventually(
      async () => jacks.subscription.events.length,
      (n) => n >= 1,
    );
    await new Promise((r) => setTimeout(r, 500));

    expect(jacks.subscription.errors).toEqual([]);
    expect(jacks.subscription.events).toHaveLength(1);
    const id = (await mine(jack.token)).notifications.edges[0]!.node.id;
    expect(jacks.subscription.events[0]!.notificationAdded).toEqual({
      id,
      kind: 'ORDER_FILLED',
      title: 'Buy order filled',
      body: 'Your buy order for 3 shares of Live Wire filled at $0.99 a share.',
      createdAt: fill[0]!.occurredAt,
    });
    expect(kates.subscription.events).toEqual([]);
    await eventually(
      async () => anonymous.subscription.errors.length,
      (n) => n > 0,
    );
    expect(JSON.stringify(anonymous.subscription.errors)).toContain('UNAUTHENTICATED');
  });
});

describe('notifications from the real producers', () => {
  it('a voucher rewards issues for a listen notifies the listener once, live and in the list, naming the song catalog published', async () => {
    const artist = await newArtist(stack, 'Producer Artist');
    const songId = await publishSong(stack, artist.token, 1, 'Real Song');
    const fan = await signUp(stack, 'FAN', 'Listener');
    const live = subscribe<{ notificationAdded: { id: string; kind: string; title: string; body: string } }>(stack.gatewayUrl, ON_NOTIFICATION, fan.token);
    clients.push(live.client);
    await live.subscription.ready;

    const { result } = await listenAndComplete(stack, fan.token, songId, 1);
    expect(result.voucher).not.toBeNull();

    const me = await eventually(
      async () => (await stack.gql<MyNotifications>(MY_NOTIFICATIONS, {}, { token: fan.token })).data!.me,
      // The counts and the page are separate reads, so one answer can straddle the insert: wait for all three.
      (m) => m.notifications.totalCount > 0 && m.notifications.edges.length > 0 && m.unreadNotificationCount > 0,
      15_000,
    );
    expect(me.unreadNotificationCount).toBe(1);
    expect(me.notifications.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({
        kind: 'REWARD_VOUCHER',
        title: 'Listening reward earned',
        body: 'You earned 0.01 reward tokens for listening to Real Song.',
        song: { id: songId },
      }),
    ]);
    await eventually(
      async () => live.subscription.events.length,
      (n) => n > 0,
    );
    expect(live.subscription.errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(live.subscription.events).toHaveLength(1);
    expect(live.subscription.events[0]!.notificationAdded).toMatchObject({
      id: me.notifications.edges[0]!.node.id,
      kind: 'REWARD_VOUCHER',
      title: 'Listening reward earned',
      body: 'You earned 0.01 reward tokens for listening to Real Song.',
    });
    // The artist earned nothing and was told nothing.
    expect((await stack.gql<MyNotifications>(MY_NOTIFICATIONS, {}, { token: artist.token })).data!.me.notifications.totalCount).toBe(0);
  });

  it('trades and a revenue distribution in ownership notify each order owner per execution and each holder once', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Traded Song');
    const seller = await signUp(stack, 'FAN', 'Seller');
    const buyer = await signUp(stack, 'FAN', 'Buyer');
    for (const fan of [seller, buyer]) await deposit(stack, db, fan.userId, 100_000);
    const offering = await stack.gql<{ createShareOffering: { id: string } }>(
      OFFER,
      { input: { songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 2000 } },
      { token: artist.token },
    );
    await stack.gql(BUY_OFFERING, { offeringId: offering.data!.createShareOffering.id, quantity: 100 }, { token: seller.token });

    // The seller's order fills in two executions; each buy fills at once.
    const sell = await stack.gql<Placed>(
      PLACE,
      { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 30, limitPriceCents: 120 } },
      { token: seller.token },
    );
    expect(sell.errors).toBeUndefined();
    for (const quantity of [20, 10]) {
      const buy = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity, limitPriceCents: 125 } }, { token: buyer.token });
      expect(buy.data!.placeOrder.order.status).toBe('FILLED');
    }
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const distributed = await stack.gql(DISTRIBUTE, { songId, amountCents: 10_000, periodLabel: '2026-11' }, { token: admin });
    expect(distributed.errors).toBeUndefined();

    const list = (token: string) => stack.gql<MyNotifications>(MY_NOTIFICATIONS, {}, { token }).then((r) => r.data!.me.notifications.edges.map((e) => e.node));
    await eventually(
      () => list(seller.token),
      (n) => n.length >= 4,
    );
    await eventually(
      () => list(buyer.token),
      (n) => n.length >= 4,
    );
    // Late duplicates would show up by now.
    await new Promise((r) => setTimeout(r, 500));
    const sellers = await list(seller.token);
    const buyers = await list(buyer.token);
    const texts = (nodes: Awaited<ReturnType<typeof list>>) => nodes.map((n) => `${n.kind}: ${n.title} | ${n.body}`).sort();
    const sellerTexts = texts(sellers);
    expect(sellerTexts.filter((t) => !t.startsWith('REVENUE_PAID'))).toEqual([
      'DEPOSIT_SUCCEEDED: Deposit received | $1,000.00 paid by card was added to your trading account.',
      'ORDER_FILLED: Sell order filled | Your sell order for 30 shares of Traded Song is complete: the last 10 filled at $1.20 a share.',
      'ORDER_FILLED: Sell order partly filled | 20 of the 30 shares in your sell order for Traded Song filled at $1.20 a share.',
    ]);
    // The split is ownership's business; the notification names the holder's shares after the sales.
    expect(sellerTexts.filter((t) => t.startsWith('REVENUE_PAID'))).toEqual([
      expect.stringMatching(/^REVENUE_PAID: Revenue paid \| You received \$\d+\.\d\d from the revenue of Traded Song for 2026-11 \(your 70 shares\)\.$/),
    ]);
    expect(texts(buyers)).toEqual([
      'DEPOSIT_SUCCEEDED: Deposit received | $1,000.00 paid by card was added to your trading account.',
      'ORDER_FILLED: Buy order filled | Your buy order for 10 shares of Traded Song filled at $1.20 a share.',
      'ORDER_FILLED: Buy order filled | Your buy order for 20 shares of Traded Song filled at $1.20 a share.',
      expect.stringMatching(/^REVENUE_PAID: Revenue paid \| You received \$\d+\.\d\d from the revenue of Traded Song for 2026-11 \(your 30 shares\)\.$/),
    ]);
    expect((await list(artist.token)).map((n) => n.kind)).not.toContain('ORDER_FILLED');
  });
});
