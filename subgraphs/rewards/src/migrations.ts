import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_rewards',
    `
-- Projection of catalog.song.published.v1: only published songs can be listened to for rewards.
create table songs (
  song_id uuid primary key,
  artist_user_id uuid not null,
  duration_seconds int not null check (duration_seconds >= 0),
  published_at timestamptz not null
);

-- One pool per epoch (UTC day). remaining can never go below zero.
create table pools (
  epoch int primary key,
  reward_per_listen numeric(78, 0) not null check (reward_per_listen > 0),
  total_budget numeric(78, 0) not null check (total_budget >= 0),
  remaining numeric(78, 0) not null check (remaining >= 0),
  created_at timestamptz not null default now(),
  check (remaining <= total_budget)
);

create table sessions (
  id uuid primary key,
  user_id uuid not null,
  song_id uuid not null references songs(song_id),
  status text not null check (status in ('OPEN', 'COMPLETED', 'REJECTED', 'ABANDONED')),
  started_at timestamptz not null,
  last_heartbeat_at timestamptz not null,
  last_position_seconds double precision not null default 0,
  listened_seconds double precision not null default 0,
  gapped boolean not null default false,
  completed_at timestamptz,
  counted_as_listen boolean not null default false,
  rejection_reason text
);
-- One open session per user.
create unique index sessions_one_open_per_user on sessions (user_id) where status = 'OPEN';
create index sessions_user on sessions (user_id, started_at);

-- Each epoch's incremental Merkle tree: nodes by (level, index); level 0 holds the leaves.
create table trees (
  epoch int primary key,
  leaf_count int not null default 0,
  root text not null
);
create table tree_nodes (
  epoch int not null,
  level smallint not null,
  idx int not null,
  value text not null,
  primary key (epoch, level, idx)
);
-- Known roots: a bounded history per epoch, so a proof against a slightly old root still claims.
create table tree_roots (
  root text primary key,
  epoch int not null,
  leaf_count int not null,
  created_at timestamptz not null default now()
);
create index tree_roots_epoch on tree_roots (epoch, leaf_count desc);

create table vouchers (
  epoch int not null,
  leaf_index int not null,
  commitment text not null,
  amount numeric(78, 0) not null check (amount > 0),
  session_id uuid not null unique references sessions(id),
  user_id uuid not null,
  song_id uuid not null,
  merkle_root text not null,
  issued_at timestamptz not null default now(),
  primary key (epoch, leaf_index)
);
-- DUPLICATE_COMMITMENT: a commitment is a leaf of at most one tree.
create unique index vouchers_commitment_key on vouchers (commitment);
create index vouchers_user_day on vouchers (user_id, epoch, song_id);

-- Claims know only the nullifier hash: nothing links them to a voucher, session or user.
create table claims (
  id uuid primary key,
  nullifier_hash text not null,
  epoch int not null,
  root text not null,
  recipient text not null,
  amount numeric(78, 0) not null check (amount > 0),
  status text not null check (status in ('CREDITED', 'PENDING', 'PAID', 'FAILED')),
  raw_tx text,
  tx_hash text,
  nonce int,
  failure text,
  created_at timestamptz not null default now(),
  paid_at timestamptz,
  constraint claims_nullifier_hash_key unique (nullifier_hash)
);
create index claims_recipient on claims (recipient, created_at);
`,
  ),
];
