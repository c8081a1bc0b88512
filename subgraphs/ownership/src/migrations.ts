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
];
