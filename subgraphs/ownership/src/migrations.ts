import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_ownership',
    `
-- Projection of catalog.song.published.v1.
create table songs (
  song_id uuid primary key,
  artist_user_id uuid not null,
  title text not null
);

-- Trading accounts in integer cents. Constraints make a negative balance impossible.
create table accounts (
  user_id uuid primary key,
  cash_cents bigint not null default 0 check (cash_cents >= 0),
  reserved_cents bigint not null default 0 check (reserved_cents >= 0),
  created_at timestamptz not null default now()
);

-- Double-entry journal: every movement of cash is a transaction whose postings sum to zero.
-- Accounts: user:<id>:cash, user:<id>:reserved, fees, external:deposits, external:revenue.
create table journal (
  id bigserial primary key,
  txn_id uuid not null,
  account text not null,
  amount_cents bigint not null,
  kind text not null,
  created_at timestamptz not null default now()
);
create index journal_txn on journal (txn_id);
create index journal_account on journal (account);

create table deposits (
  deposit_id text primary key,
  user_id uuid not null,
  amount_cents bigint not null check (amount_cents > 0),
  credited_at timestamptz not null default now()
);

create table holdings (
  user_id uuid not null,
  song_id uuid not null,
  quantity int not null default 0 check (quantity >= 0),
  reserved_quantity int not null default 0 check (reserved_quantity >= 0),
  cost_cents bigint not null default 0 check (cost_cents >= 0),
  primary key (user_id, song_id),
  check (reserved_quantity <= quantity)
);
create index holdings_song on holdings (song_id) where quantity > 0;

create table offerings (
  id uuid primary key,
  song_id uuid not null unique,
  artist_user_id uuid not null,
  total_shares int not null check (total_shares between 1 and 1000000),
  shares_remaining int not null check (shares_remaining >= 0),
  price_per_share_cents int not null check (price_per_share_cents > 0),
  revenue_share_bps int not null check (revenue_share_bps between 1 and 5000),
  closes_at timestamptz,
  created_at timestamptz not null default now(),
  check (shares_remaining <= total_shares)
);

create table orders (
  id uuid primary key,
  song_id uuid not null,
  user_id uuid not null,
  side text not null check (side in ('BUY', 'SELL')),
  type text not null check (type in ('LIMIT', 'MARKET')),
  status text not null check (status in ('OPEN', 'FILLED', 'CANCELLED')),
  quantity int not null check (quantity > 0),
  filled_quantity int not null default 0 check (filled_quantity >= 0),
  limit_price_cents int check (limit_price_cents > 0),
  -- Cash (BUY) still locked for this order; released when it ends.
  reserved_cents bigint not null default 0 check (reserved_cents >= 0),
  fill_value_cents bigint not null default 0,
  client_order_id text,
  seq bigserial not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (filled_quantity <= quantity),
  constraint orders_client_order_id_key unique (user_id, client_order_id)
);
create index orders_book on orders (song_id, side, limit_price_cents, seq) where status = 'OPEN';
create index orders_user_open on orders (user_id) where status = 'OPEN';

create table trades (
  id uuid primary key,
  song_id uuid not null,
  buy_order_id uuid not null,
  sell_order_id uuid not null,
  buyer_id uuid not null,
  seller_id uuid not null,
  taker_side text not null,
  price_cents int not null check (price_cents > 0),
  quantity int not null check (quantity > 0),
  fee_cents bigint not null check (fee_cents >= 0),
  seq bigserial not null,
  executed_at timestamptz not null default now(),
  check (buyer_id <> seller_id)
);
create index trades_song_time on trades (song_id, executed_at, seq);

create table distributions (
  id uuid primary key,
  song_id uuid not null,
  period_label text not null,
  total_cents bigint not null check (total_cents > 0),
  holder_count int not null,
  source text not null check (source in ('ARTIST', 'ADMIN')),
  created_at timestamptz not null default now(),
  constraint distributions_period_key unique (song_id, period_label)
);
`,
  ),
  sqlMigration(
    '0002_place_order_functions',
    `
-- placeOrder's two round trips (see placement.ts): the lock and the reads matching needs, then
-- the settlement plan's writes. Functions so that PostgreSQL plans their statements once per
-- session while the client sends one short simple-protocol query for each step.

-- Bids in priority order (price high to low, then time), as orders_book serves asks.
create index orders_bids on orders (song_id, limit_price_cents desc, seq) where status = 'OPEN' and side = 'BUY';

-- Takes the song's lock, then reads (each statement with a snapshot taken after the lock):
-- the taker's available cash (row locked) or unreserved shares, an earlier order with the same
-- clientOrderId, the resting orders on the other side that could fill p_quantity in priority
-- order (walking the book's index and stopping once they are enough; the taker's own orders
-- met on the way are included, to be expired, but do not count), and the new order's seq.
create function place_order_load(p_user uuid, p_song uuid, p_side text, p_client_order_id text, p_limit int, p_quantity int)
returns json language plpgsql as $fn$
declare
  v_available bigint;
  v_existing uuid;
  v_makers jsonb := '[]';
  v_enough bigint := 0;
  v_book refcursor;
  v_order record;
begin
  perform pg_advisory_xact_lock(hashtext('ownership:song:' || p_song::text));
  if p_side = 'BUY' then
    select cash_cents into v_available from accounts where user_id = p_user for update;
  else
    select quantity - reserved_quantity into v_available from holdings where user_id = p_user and song_id = p_song;
  end if;
  if p_client_order_id is not null then
    select id into v_existing from orders where user_id = p_user and client_order_id = p_client_order_id;
  end if;
  if p_side = 'BUY' then
    open v_book for
      select id, user_id, side, limit_price_cents as price, quantity, filled_quantity, reserved_cents, seq from orders
       where song_id = p_song and side = 'SELL' and status = 'OPEN' and (p_limit is null or limit_price_cents <= p_limit)
       order by limit_price_cents, seq;
  else
    open v_book for
      select id, user_id, side, limit_price_cents as price, quantity, filled_quantity, reserved_cents, seq from orders
       where song_id = p_song and side = 'BUY' and status = 'OPEN' and (p_limit is null or limit_price_cents >= p_limit)
       order by limit_price_cents desc, seq;
  end if;
  while v_enough < p_quantity loop
    fetch v_book into v_order;
    exit when not found;
    v_makers := v_makers || jsonb_build_array(to_jsonb(v_order));
    if v_order.user_id <> p_user then
      v_enough := v_enough + v_order.quantity - v_order.filled_quantity;
    end if;
  end loop;
  close v_book;
  return json_build_object('available', coalesce(v_available, 0), 'existing', v_existing, 'makers', v_makers,
                           'seq', nextval(pg_get_serial_sequence('orders', 'seq'))::text);
end
$fn$;

-- Applies a settlement plan: the new order, the makers' changes, net account and holding
-- changes, the journal, the trades (in execution order) and the outbox events. Returns how
-- many makers, accounts and holdings it changed, for the caller to check against the plan.
create function place_order_apply(
  p_order_id uuid, p_song uuid, p_user uuid, p_side text, p_type text, p_status text, p_quantity int, p_filled int,
  p_limit int, p_reserved bigint, p_fill_value bigint, p_client_order_id text, p_seq bigint, p_at timestamptz,
  m_id uuid[], m_add_filled int[], m_add_value bigint[], m_reserved_delta bigint[], m_status text[],
  a_user uuid[], a_cash bigint[], a_reserved bigint[],
  h_user uuid[], h_quantity int[], h_reserved int[], h_cost_add bigint[], h_sold int[],
  j_txn uuid[], j_account text[], j_amount bigint[], j_kind text[],
  t_id uuid[], t_buy uuid[], t_sell uuid[], t_buyer uuid[], t_seller uuid[], t_side text[], t_price int[], t_quantity int[], t_fee bigint[],
  e_id uuid[], e_type text[], e_source text[], e_payload jsonb[], e_request_id text[], e_occurred_at timestamptz[])
returns json language plpgsql as $fn$
declare
  v_makers int;
  v_accounts int;
  v_holdings int;
  v_opened int;
begin
  insert into orders (id, song_id, user_id, side, type, status, quantity, filled_quantity, limit_price_cents, reserved_cents,
                      fill_value_cents, client_order_id, seq, created_at, updated_at)
  values (p_order_id, p_song, p_user, p_side, p_type, p_status, p_quantity, p_filled, p_limit, p_reserved,
          p_fill_value, p_client_order_id, p_seq, p_at, p_at);

  update orders o set filled_quantity = o.filled_quantity + m.add_filled, fill_value_cents = o.fill_value_cents + m.add_value,
         reserved_cents = o.reserved_cents + m.reserved_delta, status = m.status, updated_at = p_at
    from unnest(m_id, m_add_filled, m_add_value, m_reserved_delta, m_status) as m(id, add_filled, add_value, reserved_delta, status)
   where o.id = m.id and o.status = 'OPEN';
  get diagnostics v_makers = row_count;

  update accounts a set cash_cents = a.cash_cents + d.cash, reserved_cents = a.reserved_cents + d.reserved
    from unnest(a_user, a_cash, a_reserved) as d(user_id, cash, reserved)
   where a.user_id = d.user_id;
  get diagnostics v_accounts = row_count;

  update holdings x set quantity = x.quantity + h.quantity, reserved_quantity = x.reserved_quantity + h.reserved,
         cost_cents = x.cost_cents + h.cost_add - case when h.sold > 0 then x.cost_cents * h.sold / x.quantity else 0 end
    from unnest(h_user, h_quantity, h_reserved, h_cost_add, h_sold) as h(user_id, quantity, reserved, cost_add, sold)
   where x.user_id = h.user_id and x.song_id = p_song;
  get diagnostics v_holdings = row_count;
  insert into holdings (user_id, song_id, quantity, reserved_quantity, cost_cents)
  select h.user_id, p_song, h.quantity, h.reserved, h.cost_add
    from unnest(h_user, h_quantity, h_reserved, h_cost_add) as h(user_id, quantity, reserved, cost_add)
   where not exists (select 1 from holdings x where x.user_id = h.user_id and x.song_id = p_song);
  get diagnostics v_opened = row_count;

  insert into journal (txn_id, account, amount_cents, kind) select * from unnest(j_txn, j_account, j_amount, j_kind);

  insert into trades (id, song_id, buy_order_id, sell_order_id, buyer_id, seller_id, taker_side, price_cents, quantity, fee_cents, executed_at)
  select t.id, p_song, t.buy, t.sell, t.buyer, t.seller, t.side, t.price, t.quantity, t.fee, p_at
    from unnest(t_id, t_buy, t_sell, t_buyer, t_seller, t_side, t_price, t_quantity, t_fee) with ordinality
      as t(id, buy, sell, buyer, seller, side, price, quantity, fee, ord)
   order by t.ord;

  insert into outbox_events (id, type, source, payload, request_id, occurred_at)
  select * from unnest(e_id, e_type, e_source, e_payload, e_request_id, e_occurred_at);

  return json_build_object('makers', v_makers, 'accounts', v_accounts, 'holdings', v_holdings + v_opened);
end
$fn$;
`,
  ),
  sqlMigration(
    '0003_ticket_payments',
    `
-- loyalty's ticket purchases paid from trading-account cash: one row per purchase, so a purchase
-- is debited at most once whatever event ids carry its reservation.
create table ticket_payments (
  purchase_id uuid primary key,
  user_id uuid not null,
  artist_user_id uuid not null,
  amount_cents bigint not null check (amount_cents > 0),
  status text not null check (status in ('SUCCEEDED', 'FAILED')),
  reason text,
  created_at timestamptz not null default now()
);
`,
  ),
];
