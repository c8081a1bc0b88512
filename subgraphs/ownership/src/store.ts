import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';

/**
 * ownership's SQL, all of it but order placement's: each function one statement with bound
 * parameters, each row parsed. Reads take any Session; writes take the Tx of a use case or an
 * event handler. placeOrder's two round trips (placement.ts, plain node-postgres with inlineSql)
 * are the documented exception (docs/adr/0001-persistence.md).
 */

const timestamp = z.coerce.date();
const bigintText = z.string();

export const OrderRow = z.object({
  id: z.string(),
  song_id: z.string(),
  user_id: z.string(),
  side: z.enum(['BUY', 'SELL']),
  type: z.enum(['LIMIT', 'MARKET']),
  status: z.enum(['OPEN', 'FILLED', 'CANCELLED']),
  quantity: z.number(),
  filled_quantity: z.number(),
  limit_price_cents: z.number().nullable(),
  reserved_cents: bigintText,
  fill_value_cents: bigintText,
  client_order_id: z.string().nullable(),
  seq: bigintText,
  created_at: timestamp,
});
export type OrderRow = z.output<typeof OrderRow>;

export const TradeRow = z.object({ id: z.string(), song_id: z.string(), price_cents: z.number(), quantity: z.number(), executed_at: timestamp });
export type TradeRow = z.output<typeof TradeRow>;

export const OfferingRow = z.object({
  id: z.string(),
  song_id: z.string(),
  artist_user_id: z.string(),
  total_shares: z.number(),
  shares_remaining: z.number(),
  price_per_share_cents: z.number(),
  revenue_share_bps: z.number(),
  closes_at: timestamp.nullable(),
});
export type OfferingRow = z.output<typeof OfferingRow>;

export const HoldingRow = z.object({ user_id: z.string(), song_id: z.string(), quantity: z.number(), reserved_quantity: z.number(), cost_cents: bigintText });
export type HoldingRow = z.output<typeof HoldingRow>;

export const DistributionRow = z.object({ id: z.string(), song_id: z.string(), period_label: z.string(), total_cents: bigintText, holder_count: z.number() });
export type DistributionRow = z.output<typeof DistributionRow>;

const SongRow = z.object({ song_id: z.string(), artist_user_id: z.string(), title: z.string() });
const Cash = z.object({ cash_cents: bigintText });
const list = (values: readonly string[]) => sql.join(values);

// ---- Songs (catalog.song.published.v1) ----

export async function upsertSong(tx: Tx, song: { songId: string; artistUserId: string; title: string }): Promise<void> {
  await exec(
    tx,
    sql`insert into songs (song_id, artist_user_id, title) values (${song.songId}, ${song.artistUserId}, ${song.title}) on conflict (song_id) do update set title = excluded.title`,
  );
}

export async function songById(db: Session, songId: string) {
  return row(db, SongRow, sql`select song_id, artist_user_id, title from songs where song_id = ${songId}`);
}

/** Serialises every change to one song's book until commit. */
export async function lockSong(tx: Tx, songId: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtext(${`ownership:song:${songId}`}))`);
}

// ---- Accounts and the journal ----

export async function ensureAccount(tx: Tx, userId: string): Promise<void> {
  await exec(tx, sql`insert into accounts (user_id) values (${userId}) on conflict do nothing`);
}

/** The user's available cash, locked until commit; undefined when they have no account. */
export async function lockCash(tx: Tx, userId: string): Promise<string | undefined> {
  return (await row(tx, Cash, sql`select cash_cents from accounts where user_id = ${userId} for update`))?.cash_cents;
}

const AccountOfRow = z.object({ cash_cents: bigintText, reserved_cents: bigintText });

export async function accountOf(db: Session, userId: string) {
  return row(db, AccountOfRow, sql`select cash_cents, reserved_cents from accounts where user_id = ${userId}`);
}

export async function insertJournal(tx: Tx, txnId: string, kind: string, lines: readonly (readonly [string, number])[]): Promise<void> {
  const values = lines.map(([account, amount]) => sql`(${txnId}, ${account}, ${amount}, ${kind})`);
  await exec(tx, sql`insert into journal (txn_id, account, amount_cents, kind) values ${sql.join(values)}`);
}

const AddToBalanceRow = z.object({ user_id: z.string() });

/** Adds `amount` to one balance of the user's account; false when they have no account. */
export async function addToBalance(tx: Tx, userId: string, balance: 'cash' | 'reserved', amount: number): Promise<boolean> {
  const column = balance === 'cash' ? sql.raw('cash_cents') : sql.raw('reserved_cents');
  const updated = await rows(tx, AddToBalanceRow, sql`update accounts set ${column} = ${column} + ${amount} where user_id = ${userId} returning user_id`);
  return updated.length === 1;
}

const RecordDepositRow = z.object({ deposit_id: z.string() });

/** Records a deposit once per depositId; false when it was recorded before. */
export async function recordDeposit(tx: Tx, deposit: { depositId: string; userId: string; amountCents: number }): Promise<boolean> {
  const inserted = await rows(
    tx,
    RecordDepositRow,
    sql`insert into deposits (deposit_id, user_id, amount_cents) values (${deposit.depositId}, ${deposit.userId}, ${deposit.amountCents}) on conflict do nothing returning deposit_id`,
  );
  return inserted.length > 0;
}

// ---- Offerings and holdings ----

/** Opens the song's offering; undefined when it already has one. */
export async function insertOffering(
  tx: Tx,
  o: { id: string; songId: string; artistUserId: string; totalShares: number; pricePerShareCents: number; revenueShareBps: number; closesAt: Date | null },
): Promise<OfferingRow | undefined> {
  return row(
    tx,
    OfferingRow,
    sql`insert into offerings (id, song_id, artist_user_id, total_shares, shares_remaining, price_per_share_cents, revenue_share_bps, closes_at)
        values (${o.id}, ${o.songId}, ${o.artistUserId}, ${o.totalShares}, ${o.totalShares}, ${o.pricePerShareCents}, ${o.revenueShareBps}, ${o.closesAt})
        on conflict (song_id) do nothing returning *`,
  );
}

const OfferingSongRow = z.object({ song_id: z.string() });

export async function offeringSong(db: Session, offeringId: string): Promise<string | undefined> {
  return (await row(db, OfferingSongRow, sql`select song_id from offerings where id = ${offeringId}`))?.song_id;
}

export async function lockOffering(tx: Tx, offeringId: string): Promise<OfferingRow | undefined> {
  return row(tx, OfferingRow, sql`select * from offerings where id = ${offeringId} for update`);
}

export async function offeringsBy(db: Session, column: 'id' | 'song_id', keys: readonly string[]): Promise<OfferingRow[]> {
  return rows(db, OfferingRow, sql`select * from offerings where ${sql.ref(column)} in (${list(keys)})`);
}

export async function takeShares(tx: Tx, offeringId: string, quantity: number): Promise<void> {
  await exec(tx, sql`update offerings set shares_remaining = shares_remaining - ${quantity} where id = ${offeringId}`);
}

export async function addHolding(tx: Tx, h: { userId: string; songId: string; quantity: number; costCents: number }): Promise<HoldingRow | undefined> {
  return row(
    tx,
    HoldingRow,
    sql`insert into holdings (user_id, song_id, quantity, cost_cents) values (${h.userId}, ${h.songId}, ${h.quantity}, ${h.costCents})
        on conflict (user_id, song_id) do update set quantity = holdings.quantity + excluded.quantity, cost_cents = holdings.cost_cents + excluded.cost_cents
        returning *`,
  );
}

export async function releaseShares(tx: Tx, userId: string, songId: string, quantity: number): Promise<void> {
  await exec(tx, sql`update holdings set reserved_quantity = reserved_quantity - ${quantity} where user_id = ${userId} and song_id = ${songId}`);
}

export async function holdingsOf(db: Session, userId: string): Promise<HoldingRow[]> {
  return rows(db, HoldingRow, sql`select * from holdings where user_id = ${userId} and quantity > 0 order by song_id`);
}

const HoldersOfRow = z.object({ user_id: z.string(), quantity: z.number() });

export async function holdersOf(tx: Tx, songId: string) {
  return rows(tx, HoldersOfRow, sql`select user_id, quantity from holdings where song_id = ${songId} and quantity > 0 order by user_id`);
}

const TotalSharesOfRow = z.object({ total_shares: z.number() });

export async function totalSharesOf(tx: Tx, songId: string): Promise<number | undefined> {
  return (await row(tx, TotalSharesOfRow, sql`select total_shares from offerings where song_id = ${songId}`))?.total_shares;
}

// ---- Orders and trades ----

const OrderOwnerRow = z.object({ song_id: z.string(), user_id: z.string() });

export async function orderOwner(db: Session, orderId: string) {
  return row(db, OrderOwnerRow, sql`select song_id, user_id from orders where id = ${orderId}`);
}

export async function orderById(db: Session, orderId: string): Promise<OrderRow | undefined> {
  return row(db, OrderRow, sql`select * from orders where id = ${orderId}`);
}

export async function ordersByIds(db: Session, ids: readonly string[]): Promise<OrderRow[]> {
  return rows(db, OrderRow, sql`select * from orders where id in (${list(ids)})`);
}

export async function openOrdersOf(db: Session, userId: string, limit: number): Promise<OrderRow[]> {
  return rows(db, OrderRow, sql`select * from orders where user_id = ${userId} and status = 'OPEN' order by seq limit ${limit}`);
}

/** Cancels the order if it is open; answers it as it was cancelled, or undefined. */
export async function cancelOpenOrder(tx: Tx, orderId: string): Promise<OrderRow | undefined> {
  return row(tx, OrderRow, sql`update orders set status = 'CANCELLED', updated_at = now() where id = ${orderId} and status = 'OPEN' returning *`);
}

export async function clearReservation(tx: Tx, orderId: string): Promise<void> {
  await exec(tx, sql`update orders set reserved_cents = 0 where id = ${orderId}`);
}

export async function tradesOfOrder(db: Session, orderId: string): Promise<TradeRow[]> {
  return rows(
    db,
    TradeRow,
    sql`select id, song_id, price_cents, quantity, executed_at from trades where buy_order_id = ${orderId} or sell_order_id = ${orderId} order by seq`,
  );
}

export async function tradeById(db: Session, tradeId: string): Promise<TradeRow | undefined> {
  return row(db, TradeRow, sql`select id, song_id, price_cents, quantity, executed_at from trades where id = ${tradeId}`);
}

const BookLevelsRow = z.object({ side: z.enum(['BUY', 'SELL']), price: z.number(), quantity: z.number(), orders: z.number() });

/** The book's best `depth` price levels on each side. */
export async function bookLevels(db: Session, songId: string, depth: number) {
  return rows(
    db,
    BookLevelsRow,
    sql`(select side, limit_price_cents as price, sum(quantity - filled_quantity)::int as quantity, count(*)::int as orders
           from orders where song_id = ${songId} and status = 'OPEN' and side = 'BUY' group by side, limit_price_cents order by limit_price_cents desc limit ${depth})
        union all
        (select side, limit_price_cents, sum(quantity - filled_quantity)::int, count(*)::int
           from orders where song_id = ${songId} and status = 'OPEN' and side = 'SELL' group by side, limit_price_cents order by limit_price_cents asc limit ${depth})`,
  );
}

const LastTradePriceRow = z.object({ price_cents: z.number() });

export async function lastTradePrice(db: Session, songId: string): Promise<number | undefined> {
  return (await row(db, LastTradePriceRow, sql`select price_cents from trades where song_id = ${songId} order by seq desc limit 1`))?.price_cents;
}

const MarketStatsRow = z.object({
  song_id: z.string(),
  last: z.number().nullable(),
  volume: z.number(),
  high: z.number().nullable(),
  low: z.number().nullable(),
});

/** Per song: the last trade's price and the last 24 hours' volume, high and low. */
export async function marketStats(db: Session, songIds: readonly string[]) {
  return rows(
    db,
    MarketStatsRow,
    sql`select s.song_id,
          (select price_cents from trades t where t.song_id = s.song_id order by seq desc limit 1) as last,
          coalesce(sum(t.quantity), 0)::int as volume, max(t.price_cents) as high, min(t.price_cents) as low
        from (select unnest(array[${list(songIds)}]::uuid[]) as song_id) s
        left join trades t on t.song_id = s.song_id and t.executed_at > now() - interval '24 hours'
        group by s.song_id`,
  );
}

const TradePointRow = z.object({ song_id: z.string(), price_cents: z.number(), quantity: z.number(), executed_at: timestamp });

/** Trades of the songs in the last `minutes`, oldest first. */
export async function tradesInWindow(db: Session, songIds: readonly string[], minutes: number) {
  return rows(
    db,
    TradePointRow,
    sql`select song_id, price_cents, quantity, executed_at from trades
        where song_id in (${list(songIds)}) and executed_at > now() - make_interval(mins => ${minutes}) order by executed_at, seq`,
  );
}

/** Each song's last trade before the window. */
export async function lastTradesBefore(db: Session, songIds: readonly string[], minutes: number) {
  return rows(
    db,
    TradePointRow,
    sql`select distinct on (song_id) song_id, price_cents, quantity, executed_at from trades
        where song_id in (${list(songIds)}) and executed_at <= now() - make_interval(mins => ${minutes})
        order by song_id, executed_at desc, seq desc`,
  );
}

// ---- Revenue distributions ----

export async function distributionOf(tx: Tx, songId: string, periodLabel: string): Promise<DistributionRow | undefined> {
  return row(tx, DistributionRow, sql`select * from distributions where song_id = ${songId} and period_label = ${periodLabel}`);
}

export async function insertDistribution(
  tx: Tx,
  d: { id: string; songId: string; periodLabel: string; totalCents: number; holderCount: number; source: 'ADMIN' | 'ARTIST' },
): Promise<DistributionRow | undefined> {
  return row(
    tx,
    DistributionRow,
    sql`insert into distributions (id, song_id, period_label, total_cents, holder_count, source) values (${d.id}, ${d.songId}, ${d.periodLabel}, ${d.totalCents}, ${d.holderCount}, ${d.source}) returning *`,
  );
}

// ---- Ticket payments (loyalty.ticket.reserved.v1) ----

const TicketPaymentRow = z.object({ purchase_id: z.string() });

/** Records a ticket purchase's payment outcome; false when the purchase was already settled (nothing to do). */
export async function recordTicketPayment(
  tx: Tx,
  p: { purchaseId: string; userId: string; artistUserId: string; amountCents: number; status: 'SUCCEEDED' | 'FAILED'; reason: string | null },
): Promise<boolean> {
  const inserted = await rows(
    tx,
    TicketPaymentRow,
    sql`insert into ticket_payments (purchase_id, user_id, artist_user_id, amount_cents, status, reason)
        values (${p.purchaseId}, ${p.userId}, ${p.artistUserId}, ${p.amountCents}, ${p.status}, ${p.reason})
        on conflict (purchase_id) do nothing returning purchase_id`,
  );
  return inserted.length > 0;
}
