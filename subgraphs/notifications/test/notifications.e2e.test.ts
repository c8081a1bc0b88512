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
import { CampaignNftMinted } from '@vibestream/campaigns/events';
import { OrderFilled, RevenuePaid } from '@vibestream/ownership/events';
import { DepositSucceeded, SubscriptionChanged } from '@vibestream/payments/events';
import { VoucherIssued } from '@vibestream/rewards/events';
import { newArtist, signUp } from '@vibestream/catalog/testing';
import { notificationsSubgraph } from '../src/index.ts';
import {
  MARK_ALL_READ,
  MARK_READ,
  MY_NOTIFICATIONS,
  NOTIFICATION,
  ON_NOTIFICATION,
  PREFERENCES,
  UPDATE_PREFERENCES,
  handled,
  publishSong,
  subscribe,
  type MyNotifications,
} from './helpers.ts';

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;
const clients: Client[] = [];
const statements: string[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-notif-'));
  stack = await startTestStack(
    'notifications',
    [identitySubgraph, catalogSubgraph, notificationsSubgraph],
    { MEDIA_DIR: mediaDir },
    {
      onQuery: { notifications: (sql) => void statements.push(sql) },
    },
  );
  db = stack.db;
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

async function mine(token: string, variables: Record<string, unknown> = {}) {
  const result = await stack.gql<MyNotifications>(MY_NOTIFICATIONS, variables, { token });
  expect(result.errors).toBeUndefined();
  return result.data!.me;
}

const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

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

describe('notifications from domain events', () => {
  it('a trade, a revenue payout and a reward voucher each notify their user exactly once, even when delivered again', async () => {
    const alice = await signUp(stack, 'FAN', 'Alice');
    const bob = await signUp(stack, 'FAN', 'Bob');
    const songId = await publishSong(stack, db, 'Midnight Drive');

    const sent = [
      ...(await publishEvent(stack, OrderFilled, orderFill(alice.userId, songId), { times: 3, occurredAt: at(3) })),
      ...(await publishEvent(
        stack,
        RevenuePaid,
        { distributionId: randomUUID(), songId, userId: alice.userId, amountCents: 700, shares: 70, periodLabel: '2026-11' },
        { times: 3, occurredAt: at(2) },
      )),
      ...(await publishEvent(
        stack,
        VoucherIssued,
        { userId: alice.userId, sessionId: randomUUID(), songId, epoch: 20_415, leafIndex: 7, amount: '10000000000000000' },
        { times: 3, occurredAt: at(1) },
      )),
    ];
    await handled(db, sent);

    const me = await mine(alice.token);
    expect(me.unreadNotificationCount).toBe(3);
    expect(me.notifications.totalCount).toBe(3);
    expect(me.notifications.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({
        kind: 'REWARD_VOUCHER',
        title: 'Listening reward earned',
        body: 'You earned 0.01 reward tokens for listening to Midnight Drive.',
        readAt: null,
        song: { id: songId },
      }),
      expect.objectContaining({
        kind: 'REVENUE_PAID',
        title: 'Revenue paid',
        body: 'You received $7.00 from the revenue of Midnight Drive for 2026-11 (your 70 shares).',
      }),
      expect.objectContaining({
        kind: 'ORDER_FILLED',
        title: 'Buy order filled',
        body: 'Your buy order for 12 shares of Midnight Drive filled at $1.25 a share.',
      }),
    ]);
    expect(me.notifications.edges[2]!.node.createdAt).toBe(sent[0]!.occurredAt);

    const bobs = await mine(bob.token);
    expect(bobs.unreadNotificationCount).toBe(0);
    expect(bobs.notifications).toMatchObject({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('deposits, subscription changes and campaign NFTs notify once each too', async () => {
    const carol = await signUp(stack, 'FAN', 'Carol');
    const songId = await publishSong(stack, db, 'Summer Anthem');
    const depositId = `pi_${randomUUID()}`;
    const sent = [
      ...(await publishEvent(
        stack,
        DepositSucceeded,
        { depositId, userId: carol.userId, amountCents: 50_000, method: 'CARD', succeededAt: at(3) },
        { times: 3 },
      )),
      ...(await publishEvent(
        stack,
        SubscriptionChanged,
        {
          userId: carol.userId,
          planId: 'PRO',
          previousPlanId: 'CREATOR',
          status: 'ACTIVE',
          cancelAtPeriodEnd: false,
          currentPeriodEnd: '2026-12-31T00:00:00.000Z',
          changedAt: at(2),
        },
        { times: 3 },
      )),
      ...(await publishEvent(
        stack,
        CampaignNftMinted,
        {
          campaignId: randomUUID(),
          campaignName: 'Summer Drop',
          songId,
          userId: carol.userId,
          walletAddress: '0x1234567890abcdef1234567890abcdef12345678',
          editionNumber: 12,
          editionSize: 100,
          tokenId: '12',
          contractAddress: null,
          txHash: null,
          mintedAt: at(1),
        },
        { times: 3 },
      )),
    ];
    await handled(db, sent);
    const me = await mine(carol.token);
    expect(me.notifications.edges.map(({ node }) => [node.kind, node.title, node.body])).toEqual([
      ['CAMPAIGN_NFT_MINTED', 'Campaign NFT minted', 'Edition 12 of 100 from the Summer Drop campaign for Summer Anthem is now in your wallet 0x1234…5678.'],
      ['SUBSCRIPTION_CHANGED', 'Plan upgraded', 'You moved from the Creator plan to the Pro plan. It renews on December 31, 2026.'],
      ['DEPOSIT_SUCCEEDED', 'Deposit received', '$500.00 paid by card was added to your trading account.'],
    ]);
    expect(me.notifications.edges[2]!.node.song).toBeNull();
  });

  it('tells each execution of an order apart, and names a song that arrives after the fill', async () => {
    const dave = await signUp(stack, 'FAN', 'Dave');
    const songId = randomUUID();
    const orderId = randomUUID();
    const partial = await publishEvent(
      stack,
      OrderFilled,
      orderFill(dave.userId, songId, { orderId, side: 'SELL', quantity: 5, orderQuantity: 12, filledQuantity: 5, fullyFilled: false }),
      {
        times: 2,
        occurredAt: at(2),
      },
    );
    const rest = await publishEvent(
      stack,
      OrderFilled,
      orderFill(dave.userId, songId, { orderId, side: 'SELL', quantity: 7, averagePriceCents: 130, orderQuantity: 12, filledQuantity: 12 }),
      {
        times: 3,
        occurredAt: at(1),
      },
    );
    await handled(db, [...partial, ...rest]);
    let me = await mine(dave.token);
    expect(me.notifications.edges.map(({ node }) => [node.title, node.body])).toEqual([
      ['Sell order filled', 'Your sell order for 12 shares of a song is complete: the last 7 filled at $1.30 a share.'],
      ['Sell order partly filled', '5 of the 12 shares in your sell order for a song filled at $1.25 a share.'],
    ]);

    // catalog's event comes later (another stream): the notifications now name the song.
    await handled(
      db,
      await publishEvent(stack, (await import('@vibestream/catalog/events')).SongPublished, {
        songId,
        artistId: randomUUID(),
        artistUserId: randomUUID(),
        title: 'Late Arrival',
        genre: 'Jazz',
        durationSeconds: 180,
        publishedAt: new Date().toISOString(),
      }),
    );
    me = await mine(dave.token);
    expect(me.notifications.edges[1]!.node.body).toBe('5 of the 12 shares in your sell order for Late Arrival filled at $1.25 a share.');
  });

  it('keeps nothing of a kind the user disabled, and resumes when it is enabled again', async () => {
    const erin = await signUp(stack, 'FAN', 'Erin');
    const songId = await publishSong(stack, db, 'Quiet Song');
    const defaults = await stack.gql<{ me: { notificationPreferences: { kinds: { kind: string; enabled: boolean }[] } } }>(
      PREFERENCES,
      {},
      { token: erin.token },
    );
    expect(defaults.data!.me.notificationPreferences.kinds).toHaveLength(6);
    expect(defaults.data!.me.notificationPreferences.kinds.every((k) => k.enabled)).toBe(true);

    const off = await stack.gql<{ updateNotificationPreferences: { kinds: { kind: string; enabled: boolean }[] } }>(
      UPDATE_PREFERENCES,
      {
        input: {
          kinds: [
            { kind: 'ORDER_FILLED', enabled: false },
            { kind: 'DEPOSIT_SUCCEEDED', enabled: false },
          ],
        },
      },
      { token: erin.token },
    );
    expect(off.errors).toBeUndefined();
    expect(off.data!.updateNotificationPreferences.kinds.filter((k) => !k.enabled).map((k) => k.kind)).toEqual(['ORDER_FILLED', 'DEPOSIT_SUCCEEDED']);
    // Only the kinds listed change.
    await stack.gql(UPDATE_PREFERENCES, { input: { kinds: [{ kind: 'DEPOSIT_SUCCEEDED', enabled: true }] } }, { token: erin.token });
    const now = await stack.gql<typeof defaults.data>(PREFERENCES, {}, { token: erin.token });
    expect(now.data!.me.notificationPreferences.kinds.filter((k) => !k.enabled).map((k) => k.kind)).toEqual(['ORDER_FILLED']);

    const ignored = await publishEvent(stack, OrderFilled, orderFill(erin.userId, songId), { times: 2 });
    const kept = await publishEvent(stack, DepositSucceeded, {
      depositId: randomUUID(),
      userId: erin.userId,
      amountCents: 100,
      succeededAt: new Date().toISOString(),
    });
    await handled(db, [...ignored, ...kept]);
    let me = await mine(erin.token);
    expect(me.notifications.edges.map((e) => e.node.kind)).toEqual(['DEPOSIT_SUCCEEDED']);
    expect(
      (await db.query(`select count(*)::int as n from notifications.notifications where user_id = $1 and kind = 'ORDER_FILLED'`, [erin.userId])).rows[0].n,
    ).toBe(0);

    await stack.gql(UPDATE_PREFERENCES, { input: { kinds: [{ kind: 'ORDER_FILLED', enabled: true }] } }, { token: erin.token });
    await handled(db, await publishEvent(stack, OrderFilled, orderFill(erin.userId, songId)));
    me = await mine(erin.token);
    expect(me.notifications.edges.map((e) => e.node.kind).sort()).toEqual(['DEPOSIT_SUCCEEDED', 'ORDER_FILLED']);
  });

  it('refuses bad preference input and anonymous callers', async () => {
    const frank = await signUp(stack, 'FAN', 'Frank');
    const twice = await stack.gql(
      UPDATE_PREFERENCES,
      {
        input: {
          kinds: [
            { kind: 'ORDER_FILLED', enabled: false },
            { kind: 'ORDER_FILLED', enabled: true },
          ],
        },
      },
      { token: frank.token },
    );
    expect(errorCode(twice)).toBe('BAD_USER_INPUT');
    expect(twice.errors![0]!.extensions!.field).toBe('input.kinds');
    const prefs = await stack.gql<{ me: { notificationPreferences: { kinds: { enabled: boolean }[] } } }>(PREFERENCES, {}, { token: frank.token });
    expect(prefs.data!.me.notificationPreferences.kinds.every((k) => k.enabled)).toBe(true);
    expect(errorCode(await stack.gql(UPDATE_PREFERENCES, { input: { kinds: [] } }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(MARK_READ, { ids: [] }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(NOTIFICATION, { id: randomUUID() }))).toBe('UNAUTHENTICATED');
  });
});

describe('reading and marking read', () => {
  it("marks only the caller's own notifications read and counts what changed", async () => {
    const gina = await signUp(stack, 'FAN', 'Gina');
    const hank = await signUp(stack, 'FAN', 'Hank');
    const deposits = async (userId: string, n: number) =>
      handled(
        db,
        (
          await Promise.all(
            Array.from({ length: n }, (_, i) =>
              publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 100 + i, succeededAt: at(n - i) }),
            ),
          )
        ).flat(),
      );
    await deposits(gina.userId, 3);
    await deposits(hank.userId, 1);
    const ginas = (await mine(gina.token)).notifications.edges.map((e) => e.node.id);
    const hanks = (await mine(hank.token)).notifications.edges.map((e) => e.node.id);

    const marked = await stack.gql<{ markNotificationsRead: number }>(
      MARK_READ,
      { ids: [ginas[0], ginas[1], ginas[1], hanks[0], randomUUID()] },
      { token: gina.token },
    );
    expect(marked.errors).toBeUndefined();
    expect(marked.data!.markNotificationsRead).toBe(2);
    expect((await stack.gql<{ markNotificationsRead: number }>(MARK_READ, { ids: [ginas[0]] }, { token: gina.token })).data!.markNotificationsRead).toBe(0);

    const gina1 = await mine(gina.token);
    expect(gina1.unreadNotificationCount).toBe(1);
    expect(
      gina1.notifications.edges
        .filter((e) => e.node.readAt !== null)
        .map((e) => e.node.id)
        .sort(),
    ).toEqual([ginas[0], ginas[1]].sort());
    const unread = await mine(gina.token, { unreadOnly: true });
    expect(unread.notifications).toMatchObject({ totalCount: 1, edges: [{ node: { id: ginas[2], readAt: null } }] });
    // Hank's notification is untouched by Gina's call.
    expect((await mine(hank.token)).unreadNotificationCount).toBe(1);

    const bad = await stack.gql(MARK_READ, { ids: [ginas[2], 'not-an-id'] }, { token: gina.token });
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');
    expect(bad.errors![0]!.extensions!.field).toBe('ids');
    expect((await mine(gina.token)).unreadNotificationCount).toBe(1);
    expect(errorCode(await stack.gql(MARK_READ, { ids: Array.from({ length: 501 }, () => randomUUID()) }, { token: gina.token }))).toBe('BAD_USER_INPUT');

    expect((await stack.gql<{ markAllNotificationsRead: number }>(MARK_ALL_READ, {}, { token: gina.token })).data!.markAllNotificationsRead).toBe(1);
    expect((await mine(gina.token)).unreadNotificationCount).toBe(0);
    expect((await mine(hank.token)).unreadNotificationCount).toBe(1);
  });

  it('pages newest first with Relay cursors, over all or only unread ones', async () => {
    const ivy = await signUp(stack, 'FAN', 'Ivy');
    const sent = (
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          publishEvent(stack, DepositSucceeded, {
            depositId: `page-${i}-${randomUUID()}`,
            userId: ivy.userId,
            amountCents: (i + 1) * 100,
            succeededAt: at(100 - i),
          }),
        ),
      )
    ).flat();
    await handled(db, sent);

    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    for (;;) {
      const me = await mine(ivy.token, { first: 10, after });
      expect(me.notifications.totalCount).toBe(25);
      sizes.push(me.notifications.edges.length);
      seen.push(...me.notifications.edges.map((e) => e.node.body));
      if (!me.notifications.pageInfo.hasNextPage) break;
      after = me.notifications.pageInfo.endCursor;
    }
    expect(sizes).toEqual([10, 10, 5]);
    // Newest first: the last deposit ($25.00) leads, the first ($1.00) closes.
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `$${25 - i}.00 was added to your trading account.`));

    const firstPage = await mine(ivy.token, { first: 5 });
    await stack.gql(MARK_READ, { ids: firstPage.notifications.edges.map((e) => e.node.id) }, { token: ivy.token });
    const unreadPage = await mine(ivy.token, { first: 15, unreadOnly: true });
    expect(unreadPage.notifications.totalCount).toBe(20);
    expect(unreadPage.notifications.pageInfo.hasNextPage).toBe(true);
    expect(unreadPage.notifications.edges[0]!.node.body).toBe('$20.00 was added to your trading account.');
    const unreadRest = await mine(ivy.token, { first: 15, unreadOnly: true, after: unreadPage.notifications.pageInfo.endCursor });
    expect(unreadRest.notifications.edges.map((e) => e.node.body)).toEqual(
      Array.from({ length: 5 }, (_, i) => `$${5 - i}.00 was added to your trading account.`),
    );
    expect(unreadRest.notifications.pageInfo.hasNextPage).toBe(false);

    expect(errorCode(await stack.gql(MY_NOTIFICATIONS, { first: 101 }, { token: ivy.token }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(MY_NOTIFICATIONS, { first: 10, after: 'garbage' }, { token: ivy.token }))).toBe('BAD_USER_INPUT');
    expect((await mine(ivy.token, { first: 0 })).notifications).toMatchObject({ totalCount: 25, edges: [], pageInfo: { hasNextPage: true } });
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

  it("loads many users' counts and pages in a constant number of statements", async () => {
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const users = await Promise.all(Array.from({ length: 12 }, (_, i) => signUp(stack, 'FAN', `Many ${i}`)));
    const songId = await publishSong(stack, db, 'Counted Song');
    await handled(db, (await Promise.all(users.map((u) => publishEvent(stack, OrderFilled, orderFill(u.userId, songId))))).flat());
    const ENTITIES = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { unreadNotificationCount notificationPreferences { kinds { enabled } } notifications(first: 5) { totalCount edges { node { title body song { id } } } } } } }`;
    const measure = async (n: number) => {
      statements.length = 0;
      const result = await stack.subgraph('notifications')<{
        _entities: { unreadNotificationCount: number; notifications: { edges: { node: { body: string } }[] } }[];
      }>(ENTITIES, { representations: users.slice(0, n).map((u) => ({ __typename: 'User', id: u.userId })) }, { token: admin });
      expect(result.errors).toBeUndefined();
      expect(result.data!._entities).toHaveLength(n);
      expect(result.data!._entities.every((u) => u.unreadNotificationCount === 1 && u.notifications.edges[0]!.node.body.includes('Counted Song'))).toBe(true);
      return statements.filter((s) => /\b(select|insert|update)\b/i.test(s)).length;
    };
    const few = await measure(2);
    const many = await measure(12);
    expect(many).toBe(few);
    expect(many).toBeLessThanOrEqual(5);
  });
});

describe('live notifications', () => {
  it('pushes a new notification to its user over graphql-ws through the gateway, once, and nothing of a disabled kind', async () => {
    const jack = await signUp(stack, 'FAN', 'Jack');
    const kate = await signUp(stack, 'FAN', 'Kate');
    const songId = await publishSong(stack, db, 'Live Wire');
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
