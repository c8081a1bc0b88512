// Events between contexts, on both buses: every subgraph and the gateway in this one process, as
// `npm start` runs them (in-process bus, no REDIS_URL) and with Redis Streams. Each consumer of
// each event contract gets at least one event, from its real producer's use case where that is
// cheap and otherwise recorded in the producer's outbox, so its relay publishes it as it would.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPersistence, type EventHandler } from '@vibestream/platform';
import { eventually, mintToken, publishThroughOutbox, startTestStack, type TestStack } from '@vibestream/testkit';
import { CampaignNftMinted } from '@vibestream/campaigns/events';
import { WalletLinked } from '@vibestream/identity/events';
import { DepositSucceeded, EntitlementsChanged, SubscriptionChanged } from '@vibestream/payments/events';
import { PoolFunded } from '@vibestream/rewards/events';
import { subgraphs } from '../subgraphs/index.ts';
import { campaignsHandlers } from '@vibestream/campaigns/handlers';
import { catalogHandlers } from '@vibestream/catalog/handlers';
import { notificationsHandlers } from '@vibestream/notifications/handlers';
import { loyaltyHandlers } from '@vibestream/loyalty/handlers';
import { discoveryHandlers } from '@vibestream/discovery/handlers';
import { BUY as BUY_TICKETS, eventOnSale } from '@vibestream/loyalty/testing';
import { ownershipHandlers } from '@vibestream/ownership/handlers';
import { paymentsHandlers } from '@vibestream/payments/handlers';
import { rewardsHandlers } from '@vibestream/rewards/handlers';
import { makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';
import { ACTIVATE as ACTIVATE_CAMPAIGN, CREATE as CREATE_CAMPAIGN, JOIN as JOIN_CAMPAIGN, minutesFromNow } from '@vibestream/campaigns/testing';
import { BUY_OFFERING, DISTRIBUTE, OFFER, PLACE, type Placed } from '@vibestream/ownership/testing';
import { COMPLETE, HEARTBEAT, START, newVoucherSecrets, terminateSnarkjs } from '@vibestream/rewards/testing';

/** Every consumer group and the event types it consumes, from the subgraphs' own handler lists. */
// Handlers made by a context's persistence are only listed here, never run: no database is opened.
const listing = openPersistence({} as never, { source: 'listing' });
const consumed: Record<string, EventHandler[]> = {
  campaigns: campaignsHandlers(listing),
  catalog: catalogHandlers(listing),
  discovery: discoveryHandlers(listing),
  loyalty: loyaltyHandlers(listing, {} as never),
  notifications: notificationsHandlers(listing, {} as never),
  ownership: ownershipHandlers(listing),
  payments: paymentsHandlers(listing),
  rewards: rewardsHandlers(listing, { rewardPerListen: '1', epochBudget: '1' }),
};

const buses = [
  { bus: 'in-process', env: { REDIS_URL: '' } },
  { bus: 'Redis Streams', env: {} },
];

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58(bytes: Uint8Array): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let text = '';
  for (; n > 0n; n /= 58n) text = BASE58[Number(n % 58n)] + text;
  for (const byte of bytes) {
    if (byte !== 0) break;
    text = `1${text}`;
  }
  return text;
}

/** A Solana wallet (an ed25519 key): its address, and its signature of a message, in base58 as identity reads them. */
function solanaWallet() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    address: base58(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')),
    sign: (message: string) => base58(sign(null, Buffer.from(message), privateKey)),
  };
}

// payments takes USDC deposits on Solana; its chain is never called here (a deposit is only created).
const solanaDeposits = { SOLANA_RPC_URL: 'http://127.0.0.1:9', SOLANA_USDC_MINT: solanaWallet().address, SOLANA_DEPOSIT_OWNER: solanaWallet().address };

describe.each(buses)('events between contexts on the $bus bus', ({ env }) => {
  let stack: TestStack;
  let mediaDir: string;
  let artist: Awaited<ReturnType<typeof newArtist>>;
  let fan: Awaited<ReturnType<typeof signUp>>;
  let songId: string;
  let offeringId: string;
  let campaignId: string;

  beforeAll(async () => {
    mediaDir = await mkdtemp(join(tmpdir(), 'vs-events-'));
    stack = await startTestStack('events', subgraphs, { ...env, ...solanaDeposits, MEDIA_DIR: mediaDir, MIN_LISTEN_SECONDS: '1', TAKER_FEE_BPS: '0' });
    artist = await newArtist(stack, 'Bus Artist');
    fan = await signUp(stack, 'FAN', 'Bus Fan');
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
    await terminateSnarkjs();
  });

  const one = async (sql: string, params: unknown[]) => (await stack.db.query(sql, params)).rowCount;

  it('a song just published is at once listenable (rewards), offered (ownership) and campaigned (campaigns), and its upload counted (payments)', async () => {
    songId = await publishedSong(stack, artist.token, { title: 'Bus Song', genre: 'Pop' }, makeWav(1, 4000));
    // No waiting: a client may use at once what it was just told exists.
    const [listen, offering, campaign] = await Promise.all([
      stack.gql<{ startListenSession: { id: string } }>(START, { songId }, { token: fan.token }),
      stack.gql<{ createShareOffering: { id: string } }>(
        OFFER,
        { input: { songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 2000 } },
        { token: artist.token },
      ),
      stack.gql<{ createCampaign: { id: string } }>(
        CREATE_CAMPAIGN,
        { input: { songId, name: 'Bus Campaign', startsAt: minutesFromNow(-1), endsAt: minutesFromNow(60), budgetCents: 1000 } },
        { token: artist.token },
      ),
    ]);
    expect(listen.errors).toBeUndefined();
    expect(offering.errors).toBeUndefined();
    expect(campaign.errors).toBeUndefined();
    offeringId = offering.data!.createShareOffering.id;
    campaignId = campaign.data!.createCampaign.id;
    expect(
      await eventually(
        () => one('select 1 from notifications.songs where song_id = $1', [songId]),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => one('select 1 from payments.uploads where user_id = $1', [artist.userId]),
        (n) => n === 1,
      ),
    ).toBe(1);
  });

  it('a completed listen counts in catalog and campaigns, and its voucher notifies the listener', async () => {
    const session = await stack.gql<{ startListenSession: { id: string } }>(START, { songId }, { token: fan.token });
    const sessionId = session.data!.startListenSession.id;
    await new Promise((r) => setTimeout(r, 1_150));
    expect((await stack.gql(HEARTBEAT, { sessionId, positionSeconds: 1 }, { token: fan.token })).errors).toBeUndefined();
    const done = await stack.gql<{ completeListenSession: { voucher: unknown } }>(
      COMPLETE,
      { sessionId, commitment: newVoucherSecrets().commitment.toString() },
      { token: fan.token },
    );
    expect(done.data?.completeListenSession.voucher).not.toBeNull();
    expect(
      await eventually(
        () => one('select 1 from catalog.songs where id = $1 and play_count = 1', [songId]),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => one('select 1 from campaigns.listens where song_id = $1 and user_id = $2', [songId, fan.userId]),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => one(`select 1 from notifications.notifications where user_id = $1 and kind = 'REWARD_VOUCHER'`, [fan.userId]),
        (n) => n === 1,
      ),
    ).toBe(1);
  });

  it('deposits fund trading accounts; a purchase, a trade and a revenue distribution notify their users', async () => {
    const buyer = await signUp(stack, 'FAN', 'Bus Buyer');
    for (const user of [fan, buyer]) {
      await publishThroughOutbox(stack, 'payments', DepositSucceeded, {
        depositId: randomUUID(),
        userId: user.userId,
        amountCents: 100_000,
        method: 'CARD',
        succeededAt: new Date().toISOString(),
      });
    }
    const funded = (userId: string) => one('select 1 from ownership.deposits where user_id = $1', [userId]);
    expect(
      await eventually(
        () => funded(fan.userId),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => funded(buyer.userId),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect((await stack.gql(BUY_OFFERING, { offeringId, quantity: 100 }, { token: fan.token })).errors).toBeUndefined();
    expect(
      (await stack.gql(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 10, limitPriceCents: 110 } }, { token: fan.token })).errors,
    ).toBeUndefined();
    const buy = await stack.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 10, limitPriceCents: 110 } }, { token: buyer.token });
    expect(buy.data?.placeOrder.order.status).toBe('FILLED');
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    expect((await stack.gql(DISTRIBUTE, { songId, amountCents: 10_000, periodLabel: 'bus' }, { token: admin })).errors).toBeUndefined();
    const kinds = async (userId: string) =>
      (await stack.db.query<{ kind: string }>('select kind from notifications.notifications where user_id = $1 order by kind', [userId])).rows.map(
        (r) => r.kind,
      );
    const expected = ['DEPOSIT_SUCCEEDED', 'ORDER_FILLED', 'REVENUE_PAID'];
    expect(
      await eventually(
        () => kinds(buyer.userId),
        (k) => expected.every((kind) => k.includes(kind)),
      ),
    ).toEqual(expect.arrayContaining(expected));
  });

  it("payments' plans and subscriptions, identity's wallets, campaigns' mints and pool funding reach their consumers", async () => {
    await publishThroughOutbox(stack, 'payments', EntitlementsChanged, {
      userId: artist.userId,
      planId: 'PRO',
      entitlements: [{ key: 'uploads.monthly', limit: 100 }],
      changedAt: new Date().toISOString(),
    });
    await publishThroughOutbox(stack, 'payments', SubscriptionChanged, {
      userId: fan.userId,
      planId: 'PRO',
      previousPlanId: 'FREE',
      status: 'ACTIVE',
      cancelAtPeriodEnd: false,
      currentPeriodEnd: minutesFromNow(60 * 24 * 30),
      changedAt: new Date().toISOString(),
    });
    const address = `0x${randomUUID().replace(/-/g, '').padEnd(40, '0')}`;
    await publishThroughOutbox(stack, 'identity', WalletLinked, { userId: fan.userId, chain: 'ETHEREUM', address });
    await publishThroughOutbox(stack, 'campaigns', CampaignNftMinted, {
      campaignId: randomUUID(),
      campaignName: 'Bus Campaign',
      songId,
      userId: fan.userId,
      editionNumber: 1,
      editionSize: 10,
      walletAddress: address,
      tokenId: '1',
      contractAddress: null,
      txHash: null,
      mintedAt: new Date().toISOString(),
    });
    await publishThroughOutbox(stack, 'rewards', PoolFunded, { epoch: 1, amount: '500' });
    expect(
      await eventually(
        () => one(`select 1 from catalog.user_plans where user_id = $1 and plan_id = 'PRO'`, [artist.userId]),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => one(`select 1 from payments.linked_wallets where user_id = $1`, [fan.userId]),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await eventually(
        () => one(`select 1 from rewards.pools where epoch = 1`, []),
        (n) => n === 1,
      ),
    ).toBe(1);
    const kinds = ['SUBSCRIPTION_CHANGED', 'CAMPAIGN_NFT_MINTED'];
    expect(
      await eventually(
        () => one(`select distinct kind from notifications.notifications where user_id = $1 and kind = any($2)`, [fan.userId, kinds]),
        (n) => n === 2,
      ),
    ).toBe(2);
  });

  it("a ticket purchase is paid from the buyer's cash in ownership and issued in loyalty; one the cash cannot cover is released", async () => {
    const concert = await eventOnSale(stack, artist.token, { capacity: 5, priceCents: 1_500 });
    const ticketTypeId = concert.ticketTypes[0]!.id;
    const paid = await stack.gql<{ buyTickets: { status: string } }>(
      BUY_TICKETS,
      { ticketTypeId, quantity: 1, clientPurchaseId: randomUUID() },
      { token: fan.token },
    );
    expect(paid.data?.buyTickets.status).toBe('CONFIRMED');
    const broke = await signUp(stack, 'FAN', 'Bus Broke');
    const refused = await stack.gql(BUY_TICKETS, { ticketTypeId, quantity: 1, clientPurchaseId: randomUUID() }, { token: broke.token });
    expect(refused.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_FUNDS');
    expect(await one('select 1 from loyalty.ticket_types where id = $1 and sold = 1', [ticketTypeId])).toBe(1);
  });

  it("a USDC deposit sent right after identity's linkWallet answered waits for payments' projection of the wallet instead of refusing it", async () => {
    const depositor = await signUp(stack, 'FAN', 'Bus Depositor');
    const wallet = solanaWallet();
    const challenge = await stack.gql<{ walletChallenge: { message: string } }>(
      `mutation($address: String!) { walletChallenge(chain: SOLANA, address: $address) { message } }`,
      { address: wallet.address },
      { token: depositor.token },
    );
    const signature = wallet.sign(challenge.data!.walletChallenge.message);
    // Hold payments' projection back, as a busy consumer would: its insert into linked_wallets waits
    // for this lock (reads do not), while identity links the wallet and answers.
    await stack.db.query('begin');
    try {
      await stack.db.query('lock table payments.linked_wallets in share mode');
      const linked = await stack.gql(
        `mutation($address: String!, $signature: String!) { linkWallet(chain: SOLANA, address: $address, signature: $signature) { address } }`,
        { address: wallet.address, signature },
        { token: depositor.token },
      );
      expect(linked.errors).toBeUndefined();
      const deposit = stack.gql<{ createDeposit: { status: string; method: string } }>(
        `mutation { createDeposit(amountCents: 1500, method: USDC_SOLANA) { status method } }`,
        {},
        { token: depositor.token },
      );
      await new Promise((r) => setTimeout(r, 400));
      // The deposit was asked for while payments did not know the wallet yet.
      expect(await one('select 1 from payments.linked_wallets where user_id = $1', [depositor.userId])).toBe(0);
      await stack.db.query('commit');
      const created = await deposit;
      expect(created.errors).toBeUndefined();
      expect(created.data!.createDeposit).toEqual({ status: 'PENDING', method: 'USDC_SOLANA' });
    } finally {
      await stack.db.query('rollback').catch(() => undefined);
    }
  });

  it("a campaign join and a playlist add reach discovery (with the share purchase above) as the fan's interactions with the song", async () => {
    expect((await stack.gql(ACTIVATE_CAMPAIGN, { id: campaignId }, { token: artist.token })).errors).toBeUndefined();
    expect((await stack.gql(JOIN_CAMPAIGN, { id: campaignId }, { token: fan.token })).errors).toBeUndefined();
    const created = await stack.gql<{ createPlaylist: { id: string } }>(`mutation { createPlaylist(name: "Bus Mix") { id } }`, {}, { token: fan.token });
    expect(created.errors).toBeUndefined();
    const added = await stack.gql(
      `mutation($playlistId: ID!, $songId: ID!) { addSongToPlaylist(playlistId: $playlistId, songId: $songId) { id } }`,
      { playlistId: created.data!.createPlaylist.id, songId },
      { token: fan.token },
    );
    expect(added.errors).toBeUndefined();
    const handledBy = (type: string) =>
      one(
        `select 1 from discovery.handled_events h join ${type.split('.')[0]}.outbox_events o on o.id = h.event_id where o.type = $1 and o.payload->>'userId' = $2`,
        [type, fan.userId],
      );
    for (const type of ['campaigns.participant.joined.v1', 'catalog.playlist.song_added.v1', 'ownership.offering.shares_bought.v1'])
      expect(
        await eventually(
          () => handledBy(type),
          (n) => n === 1,
        ),
        type,
      ).toBe(1);
    // One user of the song however many kinds of interaction.
    expect(await one('select 1 from discovery.user_interactions where user_id = $1 and song_id = $2', [fan.userId, songId])).toBe(1);
  });

  it('every consumer handled an event of every contract it consumes, and nothing was dead-lettered', async () => {
    const schemas = subgraphs.map((s) => s.name);
    const outboxes = schemas.map((s) => `select id, type from "${s}".outbox_events`).join(' union all ');
    const handled = async () => {
      const pairs = new Set<string>();
      for (const group of Object.keys(consumed)) {
        const { rows } = await stack.db.query<{ type: string }>(
          `select distinct o.type from "${group}".handled_events h join (${outboxes}) o on o.id = h.event_id where h.consumer = $1`,
          [group],
        );
        for (const { type } of rows) pairs.add(`${group} <- ${type}`);
      }
      return [...pairs].sort();
    };
    const expected = Object.entries(consumed)
      .flatMap(([group, handlers]) => handlers.map((h) => `${group} <- ${h.contract.type}`))
      .sort();
    expect(await eventually(handled, (pairs) => expected.every((p) => pairs.includes(p)))).toEqual(expected);
    const types = [...new Set(Object.values(consumed).flatMap((handlers) => handlers.map((h) => h.contract.type)))];
    for (const type of types) expect(await stack.infra.transport.deadLetters(type), type).toEqual([]);
  });
});
