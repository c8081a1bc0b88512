// notifications' use cases on notifications' own schema, with other contexts' events injected: no
// gateway, no other context booted. Changes go through NotificationsService with a Principal, as the
// resolvers call it; reads run this subgraph's own GraphQL schema in process (its resolvers and
// loaders, no HTTP). What only the whole stack shows (federation joins, live pushes over graphql-ws,
// the real producers' events) is notifications.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLiveEvents, openPersistence, parseIds, type PayloadOf, type Principal } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { CampaignNftMinted } from '@vibestream/contracts/campaigns';
import { SongPublished } from '@vibestream/contracts/catalog';
import { OrderFilled, RevenuePaid } from '@vibestream/contracts/ownership';
import { DepositSucceeded, SubscriptionChanged } from '@vibestream/contracts/payments';
import { VoucherIssued } from '@vibestream/contracts/rewards';
import { notificationsHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { NotificationsService } from '../src/service.ts';
import { queryInProcess, user, type MyNotifications } from './helpers.ts';

let h: ContextHarness;
let service: NotificationsService;
/** SQL sent through the Persistence that `query` reads with, when asked to count. */
const statements: string[] = [];

beforeAll(async () => {
  h = await openContext({ name: 'notifications', migrations });
  service = new NotificationsService({ db: h.db, live: new MemoryLiveEvents(), log: h.log });
  h.consume(notificationsHandlers(h.db, service));
});

afterAll(async () => {
  await h?.close();
});

/** Runs a document against notifications' own schema, as its server does for `principal` (the reads count their SQL). */
const query = <T>(principal: Principal | null, source: string, variables: Record<string, unknown> = {}) =>
  queryInProcess<T>(
    { h, service, reader: openPersistence(h.orm, { source: 'notifications', onQuery: (sql) => void statements.push(sql) }).reader() },
    principal,
    source,
    variables,
  );

const MINE = `query Mine($representations: [_Any!]!, $first: Int, $after: String, $unreadOnly: Boolean) {
  _entities(representations: $representations) { ... on User {
    unreadNotificationCount
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      totalCount
      edges { cursor node { id kind title body createdAt readAt song { id } } }
      pageInfo { hasNextPage endCursor }
    }
  } }
}`;
const PREFERENCES = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { notificationPreferences { kinds { kind enabled } } } } }`;
type Preferences = { _entities: { notificationPreferences: { kinds: { kind: string; enabled: boolean }[] } }[] };

/** The caller's own notifications, as `me { ... }` answers them. */
async function mine(p: Principal, variables: Record<string, unknown> = {}): Promise<MyNotifications['me']> {
  const result = await query<{ _entities: MyNotifications['me'][] }>(p, MINE, { representations: [{ __typename: 'User', id: p.userId }], ...variables });
  expect(result.errors).toBeUndefined();
  return result.data!._entities[0]!;
}

async function preferences(p: Principal) {
  const result = await query<Preferences>(p, PREFERENCES, { representations: [{ __typename: 'User', id: p.userId }] });
  expect(result.errors).toBeUndefined();
  return result.data!._entities[0]!.notificationPreferences.kinds;
}

/** The error code of a refused call (a rejected use case, or a GraphQL result's first error). */
async function refusal(call: Promise<unknown>): Promise<{ code?: unknown; field?: unknown }> {
  const outcome = await call.then(
    (r) => r,
    (e: unknown) => ({ errors: [e as { extensions?: Record<string, unknown> }] }),
  );
  const error = (outcome as { errors?: readonly { extensions?: Record<string, unknown> }[] }).errors?.[0];
  if (!error) throw new Error(`expected a refusal, got ${JSON.stringify(outcome)}`);
  return { code: error.extensions?.code, field: error.extensions?.field };
}

const markRead = (p: Principal, ids: unknown[]) => Promise.resolve().then(() => service.markRead(p, parseIds(ids, 'ids')));

/** A song notifications knows the title of. */
async function publishSong(title: string): Promise<string> {
  const songId = randomUUID();
  await h.inject(SongPublished, {
    songId,
    artistId: randomUUID(),
    artistUserId: randomUUID(),
    title,
    genre: 'Pop',
    durationSeconds: 200,
    publishedAt: new Date().toISOString(),
  });
  return songId;
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
    const alice = user();
    const bob = user();
    const songId = await publishSong('Midnight Drive');

    const sent = [
      ...(await h.inject(OrderFilled, orderFill(alice.userId, songId), { times: 3, occurredAt: at(3) })),
      ...(await h.inject(
        RevenuePaid,
        { distributionId: randomUUID(), songId, userId: alice.userId, amountCents: 700, shares: 70, periodLabel: '2026-11' },
        { times: 3, occurredAt: at(2) },
      )),
      ...(await h.inject(
        VoucherIssued,
        { userId: alice.userId, sessionId: randomUUID(), songId, epoch: 20_415, leafIndex: 7, amount: '10000000000000000' },
        { times: 3, occurredAt: at(1) },
      )),
    ];

    const me = await mine(alice);
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

    const bobs = await mine(bob);
    expect(bobs.unreadNotificationCount).toBe(0);
    expect(bobs.notifications).toMatchObject({ totalCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('deposits, subscription changes and campaign NFTs notify once each too', async () => {
    const carol = user();
    const songId = await publishSong('Summer Anthem');
    const depositId = `pi_${randomUUID()}`;
    await h.inject(DepositSucceeded, { depositId, userId: carol.userId, amountCents: 50_000, method: 'CARD', succeededAt: at(3) }, { times: 3 });
    await h.inject(
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
    );
    await h.inject(
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
    );
    const me = await mine(carol);
    expect(me.notifications.edges.map(({ node }) => [node.kind, node.title, node.body])).toEqual([
      ['CAMPAIGN_NFT_MINTED', 'Campaign NFT minted', 'Edition 12 of 100 from the Summer Drop campaign for Summer Anthem is now in your wallet 0x1234…5678.'],
      ['SUBSCRIPTION_CHANGED', 'Plan upgraded', 'You moved from the Creator plan to the Pro plan. It renews on December 31, 2026.'],
      ['DEPOSIT_SUCCEEDED', 'Deposit received', '$500.00 paid by card was added to your trading account.'],
    ]);
    expect(me.notifications.edges[2]!.node.song).toBeNull();
  });

  it('tells each execution of an order apart, and names a song that arrives after the fill', async () => {
    const dave = user();
    const songId = randomUUID();
    const orderId = randomUUID();
    await h.inject(
      OrderFilled,
      orderFill(dave.userId, songId, { orderId, side: 'SELL', quantity: 5, orderQuantity: 12, filledQuantity: 5, fullyFilled: false }),
      {
        times: 2,
        occurredAt: at(2),
      },
    );
    await h.inject(
      OrderFilled,
      orderFill(dave.userId, songId, { orderId, side: 'SELL', quantity: 7, averagePriceCents: 130, orderQuantity: 12, filledQuantity: 12 }),
      { times: 3, occurredAt: at(1) },
    );
    let me = await mine(dave);
    expect(me.notifications.edges.map(({ node }) => [node.title, node.body])).toEqual([
      ['Sell order filled', 'Your sell order for 12 shares of a song is complete: the last 7 filled at $1.30 a share.'],
      ['Sell order partly filled', '5 of the 12 shares in your sell order for a song filled at $1.25 a share.'],
    ]);

    // catalog's event comes later (another stream): the notifications now name the song.
    await h.inject(SongPublished, {
      songId,
      artistId: randomUUID(),
      artistUserId: randomUUID(),
      title: 'Late Arrival',
      genre: 'Jazz',
      durationSeconds: 180,
      publishedAt: new Date().toISOString(),
    });
    me = await mine(dave);
    expect(me.notifications.edges[1]!.node.body).toBe('5 of the 12 shares in your sell order for Late Arrival filled at $1.25 a share.');
  });

  it('keeps nothing of a kind the user disabled, and resumes when it is enabled again', async () => {
    const erin = user();
    const songId = await publishSong('Quiet Song');
    const defaults = await preferences(erin);
    expect(defaults).toHaveLength(6);
    expect(defaults.every((k) => k.enabled)).toBe(true);

    const off = await service.updatePreferences(erin, {
      kinds: [
        { kind: 'ORDER_FILLED', enabled: false },
        { kind: 'DEPOSIT_SUCCEEDED', enabled: false },
      ],
    });
    expect(off.kinds.filter((k) => !k.enabled).map((k) => k.kind)).toEqual(['ORDER_FILLED', 'DEPOSIT_SUCCEEDED']);
    // Only the kinds listed change.
    await service.updatePreferences(erin, { kinds: [{ kind: 'DEPOSIT_SUCCEEDED', enabled: true }] });
    expect((await preferences(erin)).filter((k) => !k.enabled).map((k) => k.kind)).toEqual(['ORDER_FILLED']);

    await h.inject(OrderFilled, orderFill(erin.userId, songId), { times: 2 });
    await h.inject(DepositSucceeded, { depositId: randomUUID(), userId: erin.userId, amountCents: 100, succeededAt: new Date().toISOString() });
    let me = await mine(erin);
    expect(me.notifications.edges.map((e) => e.node.kind)).toEqual(['DEPOSIT_SUCCEEDED']);
    const kept = await h.orm.em
      .fork()
      .getConnection()
      .execute<{ n: number }[]>(`select count(*)::int as n from notifications where user_id = ? and kind = 'ORDER_FILLED'`, [erin.userId]);
    expect(kept[0]!.n).toBe(0);

    await service.updatePreferences(erin, { kinds: [{ kind: 'ORDER_FILLED', enabled: true }] });
    await h.inject(OrderFilled, orderFill(erin.userId, songId));
    me = await mine(erin);
    expect(me.notifications.edges.map((e) => e.node.kind).sort()).toEqual(['DEPOSIT_SUCCEEDED', 'ORDER_FILLED']);
  });

  it('refuses bad preference input', async () => {
    const frank = user();
    const twice = await refusal(
      service.updatePreferences(frank, {
        kinds: [
          { kind: 'ORDER_FILLED', enabled: false },
          { kind: 'ORDER_FILLED', enabled: true },
        ],
      }),
    );
    expect(twice.code).toBe('BAD_USER_INPUT');
    expect(twice.field).toBe('input.kinds');
    expect((await preferences(frank)).every((k) => k.enabled)).toBe(true);
  });
});

describe('reading and marking read', () => {
  it("marks only the caller's own notifications read and counts what changed", async () => {
    const gina = user();
    const hank = user();
    const deposits = async (userId: string, n: number) => {
      for (let i = 0; i < n; i++) await h.inject(DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 100 + i, succeededAt: at(n - i) });
    };
    await deposits(gina.userId, 3);
    await deposits(hank.userId, 1);
    const ginas = (await mine(gina)).notifications.edges.map((e) => e.node.id);
    const hanks = (await mine(hank)).notifications.edges.map((e) => e.node.id);

    expect(await markRead(gina, [ginas[0], ginas[1], ginas[1], hanks[0], randomUUID()])).toBe(2);
    expect(await markRead(gina, [ginas[0]])).toBe(0);

    const gina1 = await mine(gina);
    expect(gina1.unreadNotificationCount).toBe(1);
    expect(
      gina1.notifications.edges
        .filter((e) => e.node.readAt !== null)
        .map((e) => e.node.id)
        .sort(),
    ).toEqual([ginas[0], ginas[1]].sort());
    const unread = await mine(gina, { unreadOnly: true });
    expect(unread.notifications).toMatchObject({ totalCount: 1, edges: [{ node: { id: ginas[2], readAt: null } }] });
    // Hank's notification is untouched by Gina's call.
    expect((await mine(hank)).unreadNotificationCount).toBe(1);

    const bad = await refusal(markRead(gina, [ginas[2], 'not-an-id']));
    expect(bad.code).toBe('BAD_USER_INPUT');
    expect(bad.field).toBe('ids');
    expect((await mine(gina)).unreadNotificationCount).toBe(1);
    expect(
      (
        await refusal(
          markRead(
            gina,
            Array.from({ length: 501 }, () => randomUUID()),
          ),
        )
      ).code,
    ).toBe('BAD_USER_INPUT');

    expect(await service.markAllRead(gina)).toBe(1);
    expect((await mine(gina)).unreadNotificationCount).toBe(0);
    expect((await mine(hank)).unreadNotificationCount).toBe(1);
  });

  it('pages newest first with Relay cursors, over all or only unread ones', async () => {
    const ivy = user();
    for (let i = 0; i < 25; i++) {
      await h.inject(DepositSucceeded, { depositId: `page-${i}-${randomUUID()}`, userId: ivy.userId, amountCents: (i + 1) * 100, succeededAt: at(100 - i) });
    }

    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    for (;;) {
      const me = await mine(ivy, { first: 10, after });
      expect(me.notifications.totalCount).toBe(25);
      sizes.push(me.notifications.edges.length);
      seen.push(...me.notifications.edges.map((e) => e.node.body));
      if (!me.notifications.pageInfo.hasNextPage) break;
      after = me.notifications.pageInfo.endCursor;
    }
    expect(sizes).toEqual([10, 10, 5]);
    // Newest first: the last deposit ($25.00) leads, the first ($1.00) closes.
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `$${25 - i}.00 was added to your trading account.`));

    const firstPage = await mine(ivy, { first: 5 });
    await markRead(
      ivy,
      firstPage.notifications.edges.map((e) => e.node.id),
    );
    const unreadPage = await mine(ivy, { first: 15, unreadOnly: true });
    expect(unreadPage.notifications.totalCount).toBe(20);
    expect(unreadPage.notifications.pageInfo.hasNextPage).toBe(true);
    expect(unreadPage.notifications.edges[0]!.node.body).toBe('$20.00 was added to your trading account.');
    const unreadRest = await mine(ivy, { first: 15, unreadOnly: true, after: unreadPage.notifications.pageInfo.endCursor });
    expect(unreadRest.notifications.edges.map((e) => e.node.body)).toEqual(
      Array.from({ length: 5 }, (_, i) => `$${5 - i}.00 was added to your trading account.`),
    );
    expect(unreadRest.notifications.pageInfo.hasNextPage).toBe(false);

    const representations = [{ __typename: 'User', id: ivy.userId }];
    expect((await refusal(query(ivy, MINE, { representations, first: 101 }))).code).toBe('BAD_USER_INPUT');
    expect((await refusal(query(ivy, MINE, { representations, first: 10, after: 'garbage' }))).code).toBe('BAD_USER_INPUT');
    expect((await mine(ivy, { first: 0 })).notifications).toMatchObject({ totalCount: 25, edges: [], pageInfo: { hasNextPage: true } });
  });

  it("loads many users' counts and pages in a constant number of statements", async () => {
    const admin = user(['ADMIN']);
    const users = Array.from({ length: 12 }, () => user());
    const songId = await publishSong('Counted Song');
    for (const u of users) await h.inject(OrderFilled, orderFill(u.userId, songId));
    const ENTITIES = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { unreadNotificationCount notificationPreferences { kinds { enabled } } notifications(first: 5) { totalCount edges { node { title body song { id } } } } } } }`;
    const measure = async (n: number) => {
      statements.length = 0;
      const result = await query<{
        _entities: { unreadNotificationCount: number; notifications: { edges: { node: { body: string } }[] } }[];
      }>(admin, ENTITIES, { representations: users.slice(0, n).map((u) => ({ __typename: 'User', id: u.userId })) });
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
