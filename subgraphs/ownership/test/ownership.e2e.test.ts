import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '../src/index.ts';
import { BUY_OFFERING, DISTRIBUTE, MARKET, OFFER, PLACE, PORTFOLIO, deposit, signUp, songOnMarket, type Placed } from './helpers.ts';

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-own-'));
  stack = await startTestStack('ownership', [identitySubgraph, catalogSubgraph, ownershipSubgraph], { MEDIA_DIR: mediaDir, TAKER_FEE_BPS: '50' });
  db = stack.db;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

type Portfolio = {
  me: {
    tradingAccount: { cashCents: number; reservedCents: number };
    portfolio: {
      totalValueCents: number;
      holdings: {
        quantity: number;
        reservedQuantity: number;
        averageCostCents: number;
        marketValueCents: number;
        song: { id: string; title: string; artist: { name: string } };
      }[];
    };
    openOrders: { id: string }[];
  };
};

async function account(token: string) {
  return (await stack.gql<Portfolio>(PORTFOLIO, {}, { token })).data!.me;
}

describe('an offering, two fans trading, and a revenue distribution', () => {
  // The ledger, the order rules and the invariants are use-cases.test.ts's, on ownership's own schema;
  // here what crosses contexts: a song uploaded to catalog, a deposit from payments over the bus,
  // tokens from identity, Song fields on holdings and the market on catalog's Song, through the gateway.
  it('works end to end through the gateway', async () => {
    const { artist, songId } = await songOnMarket(stack, db, 'Golden Share');
    const offering = await stack.gql<{ createShareOffering: { id: string; status: string; sharesRemaining: number } }>(
      OFFER,
      { input: { songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 2000 } },
      { token: artist.token },
    );
    expect(offering.errors).toBeUndefined();
    expect(offering.data!.createShareOffering).toMatchObject({ status: 'OPEN', sharesRemaining: 1000 });
    const offeringId = offering.data!.createShareOffering.id;

    const alice = await signUp(stack, 'FAN', 'Alice');
    const bob = await signUp(stack, 'FAN', 'Bob');
    await deposit(stack, db, alice.userId, 50_000);
    await deposit(stack, db, bob.userId, 50_000);
    expect((await account(alice.token)).tradingAccount).toEqual({ cashCents: 50_000, reservedCents: 0 });

    expect((await stack.gql(BUY_OFFERING, { offeringId, quantity: 100 }, { token: alice.token })).errors).toBeUndefined();
    expect((await stack.gql(BUY_OFFERING, { offeringId, quantity: 50 }, { token: bob.token })).errors).toBeUndefined();
    // Alice rests a sell; Bob's limit buy crosses it at 120; a MARKET buy takes the rest of the book.
    for (const [token, input] of [
      [alice.token, { songId, side: 'SELL', type: 'LIMIT', quantity: 30, limitPriceCents: 120 }],
      [bob.token, { songId, side: 'BUY', type: 'LIMIT', quantity: 20, limitPriceCents: 125 }],
      [bob.token, { songId, side: 'BUY', type: 'MARKET', quantity: 50 }],
    ] as const) {
      expect((await stack.gql<Placed>(PLACE, { input }, { token })).errors).toBeUndefined();
    }

    const a = await account(alice.token);
    const b = await account(bob.token);
    expect(a.portfolio.holdings).toEqual([
      expect.objectContaining({
        quantity: 70,
        reservedQuantity: 0,
        averageCostCents: 100,
        marketValueCents: 70 * 120,
        song: expect.objectContaining({ id: songId, title: 'Golden Share' }),
      }),
    ]);
    expect(a.portfolio.holdings[0]!.song.artist.name).toBe('Golden Share Artist');
    expect(b.portfolio.holdings[0]).toMatchObject({ quantity: 80, marketValueCents: 80 * 120 });
    expect(b.portfolio.totalValueCents).toBe(80 * 120);

    const marketData = await stack.gql<{ song: { market: Record<string, unknown> } }>(MARKET, { songId });
    expect(marketData.data!.song.market).toMatchObject({
      lastTradePriceCents: 120,
      volume24h: 30,
      high24hCents: 120,
      low24hCents: 120,
      twapCents: 120,
      offering: { id: offeringId, sharesRemaining: 850, pricePerShareCents: 100 },
    });

    // Roles come from identity's tokens: an ADMIN may distribute a song's revenue, a fan may not.
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const first = await stack.gql<{ distributeRevenue: { id: string; totalCents: number; holderCount: number } }>(
      DISTRIBUTE,
      { songId, amountCents: 10_000, periodLabel: '2026-11' },
      { token: admin },
    );
    expect(first.data!.distributeRevenue).toMatchObject({ totalCents: 10_000, holderCount: 2 });
    expect(errorCode(await stack.gql(DISTRIBUTE, { songId, amountCents: 5, periodLabel: 'x' }, { token: bob.token }))).toBe('FORBIDDEN');
  });
});

describe('auth', () => {
  it("another user's account, portfolio and orders are FORBIDDEN", async () => {
    const fan = await signUp(stack, 'FAN');
    const other = await signUp(stack, 'FAN');
    const entities = `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { tradingAccount { cashCents } openOrders { id } } } }`;
    const res = await stack.subgraph('ownership')(entities, { r: [{ __typename: 'User', id: fan.userId }] }, { token: other.token });
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });
});
