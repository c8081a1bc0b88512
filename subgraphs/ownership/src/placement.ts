// placeOrder's database side, in two round trips whatever the order fills: "begin; take the
// song's lock and load what matching needs", then "apply the settlement plan (orders, accounts,
// holdings, journal, trades, outbox); commit". Each is one simple-protocol query carrying two
// statements (values written in as escaped literals) that calls a function of migration 0002,
// whose statements PostgreSQL plans once per session: on these machines a socket round trip
// costs more than all the SQL of an order.

import { randomUUID } from 'node:crypto';
import { inlineSql, openSqlPool, withSqlClient, type EventEnvelope, type SqlClient, type SqlPool } from '@vibestream/platform';

/** Order placement's own node-postgres pool (named statements, two round trips per order); nothing else uses it. */
export type PlacementPool = SqlPool;
export const openPlacementPool = openSqlPool;
/** Runs one placement on a client of the pool; whatever transaction it left open is rolled back when it throws. */
export const withPlacementClient = withSqlClient;
import type { MakerOrder, SettlementPlan, TakerOrder } from './domain/settlement.ts';
import type { Side } from './domain/matching.ts';

export interface PlacementContext {
  /** The taker's available cash (BUY, row locked) or unreserved shares (SELL). */
  available: number;
  existingOrderId: string | null;
  makers: (MakerOrder & { seq: number })[];
  seq: string;
}

interface LoadResult {
  available: number | string;
  existing: string | null;
  makers: { id: string; user_id: string; side: Side; price: number; quantity: number; filled_quantity: number; reserved_cents: number; seq: number }[];
  seq: string;
}

/** Ends a placement that loadPlacement opened and that changes nothing (a duplicate clientOrderId). */
export async function endPlacement(client: SqlClient): Promise<void> {
  await client.query('rollback');
}

/** Opens the transaction, takes the song lock, and reads what matching and settlement need (locking a buyer's account row). */
export async function loadPlacement(
  client: SqlClient,
  input: { userId: string; songId: string; side: Side; clientOrderId: string | null; limitPriceCents: number | null; quantity: number },
): Promise<PlacementContext> {
  const results = (await client.query(
    inlineSql('begin; select place_order_load($1::uuid, $2::uuid, $3::text, $4::text, $5::int, $6::int) as load', [
      input.userId,
      input.songId,
      input.side,
      input.clientOrderId,
      input.limitPriceCents,
      input.quantity,
    ]),
  )) as unknown as [unknown, { rows: { load: LoadResult }[] }];
  const row = results[1].rows[0]!.load;
  return {
    available: Number(row.available ?? 0),
    existingOrderId: row.existing,
    makers: row.makers.map((m) => ({
      id: m.id,
      userId: m.user_id,
      side: m.side,
      priceCents: m.price,
      quantity: m.quantity,
      filledQuantity: m.filled_quantity,
      reservedCents: Number(m.reserved_cents),
      seq: Number(m.seq),
    })),
    seq: row.seq,
  };
}

const applyArgumentTypes =
  'uuid uuid uuid text text text int int int bigint bigint text bigint timestamptz uuid[] int[] bigint[] bigint[] text[] uuid[] bigint[] bigint[] uuid[] int[] int[] bigint[] int[] uuid[] text[] bigint[] text[] uuid[] uuid[] uuid[] uuid[] uuid[] text[] int[] int[] bigint[] uuid[] text[] text[] jsonb[] text[] timestamptz[]'.split(
    ' ',
  );
const applyStatement = `select place_order_apply(${applyArgumentTypes.map((type, i) => `$${i + 1}::${type}`).join(', ')}) as applied; commit`;

export interface PlacementWrite {
  taker: TakerOrder & { songId: string; clientOrderId: string | null; seq: string };
  plan: SettlementPlan;
  tradeIds: string[];
  at: Date;
  events: EventEnvelope[];
}

/** Applies a settlement plan in one statement and commits; throws (and commits nothing) when a row it must change is missing. */
export async function applyPlacement(client: SqlClient, write: PlacementWrite): Promise<void> {
  const { taker, plan, at } = write;
  const txnIds = Array.from({ length: plan.journal.reduce((max, l) => Math.max(max, l.txn + 1), 0) }, () => randomUUID());
  const results = (await client.query(
    inlineSql(applyStatement, [
      taker.id,
      taker.songId,
      taker.userId,
      taker.side,
      taker.type,
      plan.taker.status,
      taker.quantity,
      plan.taker.filledQuantity,
      taker.limitPriceCents,
      plan.taker.reservedCents,
      plan.taker.fillValueCents,
      taker.clientOrderId,
      taker.seq,
      at,
      plan.makerChanges.map((c) => c.id),
      plan.makerChanges.map((c) => c.addFilled),
      plan.makerChanges.map((c) => c.addValueCents),
      plan.makerChanges.map((c) => c.reservedDeltaCents),
      plan.makerChanges.map((c) => c.status),
      plan.accounts.map((a) => a.userId),
      plan.accounts.map((a) => a.cashCents),
      plan.accounts.map((a) => a.reservedCents),
      plan.holdings.map((h) => h.userId),
      plan.holdings.map((h) => h.quantity),
      plan.holdings.map((h) => h.reserved),
      plan.holdings.map((h) => h.costAddCents),
      plan.holdings.map((h) => h.sold),
      plan.journal.map((l) => txnIds[l.txn]),
      plan.journal.map((l) => l.account),
      plan.journal.map((l) => l.amountCents),
      plan.journal.map((l) => l.kind),
      write.tradeIds,
      plan.trades.map((t) => t.buyOrderId),
      plan.trades.map((t) => t.sellOrderId),
      plan.trades.map((t) => t.buyerId),
      plan.trades.map((t) => t.sellerId),
      plan.trades.map((t) => t.takerSide),
      plan.trades.map((t) => t.priceCents),
      plan.trades.map((t) => t.quantity),
      plan.trades.map((t) => t.feeCents),
      write.events.map((e) => e.id),
      write.events.map((e) => e.type),
      write.events.map((e) => e.source),
      write.events.map((e) => JSON.stringify(e.payload)),
      write.events.map((e) => e.requestId),
      write.events.map((e) => e.occurredAt),
    ]),
  )) as unknown as [{ rows: { applied: { makers: number; accounts: number; holdings: number } }[] }, unknown];
  const applied = results[0].rows[0]!.applied;
  // Every maker is still open (the song lock holds the book still), every account and holding
  // exists or is opened: anything else is a broken invariant, and the transaction rolls back.
  if (applied.makers !== plan.makerChanges.length || applied.accounts !== plan.accounts.length || applied.holdings !== plan.holdings.length) {
    throw new Error(
      `placeOrder settlement touched ${applied.makers}/${plan.makerChanges.length} orders, ${applied.accounts}/${plan.accounts.length} accounts, ${applied.holdings}/${plan.holdings.length} holdings`,
    );
  }
}
