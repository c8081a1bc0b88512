import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { eventually as waitFor, publishEvent, type TestStack } from '@vibestream/testkit';
import { DepositSucceeded } from '@vibestream/payments/events';
import { makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';

export { newArtist, signUp };

export const OFFER = `mutation($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id status totalShares sharesRemaining pricePerShareCents revenueShareBps song { id title } } }`;
export const BUY_OFFERING = `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity costCents holding { quantity } } }`;
export const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id side type status quantity filledQuantity limitPriceCents averageFillPriceCents } trades { id priceCents quantity } } }`;
export const CANCEL = `mutation($orderId: ID!) { cancelOrder(orderId: $orderId) { id status } }`;
export const BOOK = `query($songId: ID!, $depth: Int) { orderBook(songId: $songId, depth: $depth) { songId bids { priceCents quantity orders } asks { priceCents quantity orders } lastTradePriceCents } }`;
export const PORTFOLIO = `query Portfolio { me { tradingAccount { cashCents reservedCents } portfolio { totalValueCents holdings { quantity reservedQuantity averageCostCents marketValueCents song { id title artist { name } } } } openOrders { id side quantity filledQuantity limitPriceCents } } }`;
export const MARKET = `query($songId: ID!) { song(id: $songId) { id title market { lastTradePriceCents volume24h high24hCents low24hCents twapCents(windowMinutes: 60) offering { id sharesRemaining pricePerShareCents } } } }`;
export const DISTRIBUTE = `mutation($songId: ID!, $amountCents: Int!, $periodLabel: String!) { distributeRevenue(songId: $songId, amountCents: $amountCents, periodLabel: $periodLabel) { id totalCents holderCount periodLabel } }`;

export type Placed = {
  placeOrder: {
    order: {
      id: string;
      side: string;
      type: string;
      status: string;
      quantity: number;
      filledQuantity: number;
      limitPriceCents: number | null;
      averageFillPriceCents: number | null;
    };
    trades: { id: string; priceCents: number; quantity: number }[];
  };
};

/** The platform's poll with this suite's longer default wait (several services take part). */
export function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  return waitFor(probe, ok, timeoutMs);
}

/** An artist with a published song that ownership already knows about (it learns songs from catalog events). */
export async function songOnMarket(stack: TestStack, db: pg.Client, title: string) {
  const artist = await newArtist(stack, `${title} Artist`);
  const songId = await publishedSong(stack, artist.token, { title, genre: 'Pop' }, makeWav(1, 4000));
  await eventually(
    async () => (await db.query('select 1 from ownership.songs where song_id = $1', [songId])).rowCount,
    (n) => n === 1,
  );
  return { artist, songId };
}

/** Delivers a payments.deposit.succeeded.v1 event (as payments will) and waits until it is credited. */
export async function deposit(stack: TestStack, db: pg.Client, userId: string, amountCents: number, depositId = randomUUID(), times = 1) {
  const payload = { depositId, userId, amountCents, method: 'CARD' as const, succeededAt: new Date().toISOString() };
  // Each time under a fresh event id: only the depositId tells it is the same deposit.
  for (let i = 0; i < times; i++) await publishEvent(stack, DepositSucceeded, payload);
  await eventually(
    async () => (await db.query('select 1 from ownership.deposits where deposit_id = $1', [depositId])).rowCount,
    (n) => n === 1,
  );
  return depositId;
}

/** Every invariant of the ownership contract, checked with SQL sums. */
export async function checkInvariants(db: pg.Client) {
  const shares = await db.query(
    `select o.song_id, o.total_shares, o.shares_remaining + coalesce(sum(h.quantity), 0) as accounted
     from ownership.offerings o left join ownership.holdings h on h.song_id = o.song_id group by o.song_id, o.total_shares, o.shares_remaining`,
  );
  const cash = await db.query(
    `select (select coalesce(sum(amount_cents), 0) from ownership.deposits) as deposits,
            (select coalesce(-sum(amount_cents), 0) from ownership.journal where account = 'external:revenue') as revenue,
            (select coalesce(sum(cash_cents + reserved_cents), 0) from ownership.accounts) as held,
            (select coalesce(sum(fee_cents), 0) from ownership.trades) as fees,
            (select coalesce(sum(amount_cents), 0) from ownership.journal where account = 'fees') as fees_journal,
            (select count(*) from (select txn_id from ownership.journal group by txn_id having sum(amount_cents) <> 0) t) as unbalanced`,
  );
  const negatives = await db.query(
    `select (select count(*) from ownership.accounts where cash_cents < 0 or reserved_cents < 0) +
            (select count(*) from ownership.holdings where quantity < 0 or reserved_quantity < 0 or reserved_quantity > quantity) as n`,
  );
  const reservations = await db.query(
    `select
       (select count(*) from ownership.accounts a where a.reserved_cents <>
          (select coalesce(sum(reserved_cents), 0) from ownership.orders o where o.user_id = a.user_id and o.status = 'OPEN')) as cash_mismatch,
       (select count(*) from ownership.holdings h where h.reserved_quantity <>
          (select coalesce(sum(quantity - filled_quantity), 0) from ownership.orders o where o.user_id = h.user_id and o.song_id = h.song_id and o.side = 'SELL' and o.status = 'OPEN')) as share_mismatch`,
  );
  return {
    sharesOk: shares.rows.every((r) => Number(r.accounted) === Number(r.total_shares)),
    cash: {
      ...cash.rows[0],
      conserved: Number(cash.rows[0].deposits) + Number(cash.rows[0].revenue) === Number(cash.rows[0].held) + Number(cash.rows[0].fees),
    },
    negatives: Number(negatives.rows[0].n),
    reservations: reservations.rows[0],
  };
}
