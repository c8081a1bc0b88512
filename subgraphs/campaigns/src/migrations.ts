import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_campaigns',
    `
-- Projection of catalog.song.published.v1: a campaign's artist is its song's artist.
create table songs (
  song_id uuid primary key,
  artist_user_id uuid not null,
  title text not null
);

create table campaigns (
  id uuid primary key,
  song_id uuid not null references songs (song_id),
  artist_user_id uuid not null,
  name text not null check (length(name) between 1 and 120),
  description text check (length(description) <= 2000),
  -- DRAFT -> ACTIVE -> ENDED; ENDED is also read off ends_at before the sweep persists it.
  status text not null default 'DRAFT' check (status in ('DRAFT', 'ACTIVE', 'ENDED')),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  budget_cents bigint not null check (budget_cents >= 0),
  -- The NFT drop (all null without one).
  drop_name text,
  drop_symbol text,
  edition_size int check (edition_size >= 1),
  min_listens int check (min_listens >= 0),
  -- Editions handed out so far: a claim takes the next one under this row's lock.
  editions_claimed int not null default 0 check (editions_claimed >= 0),
  contract_address text,
  activated_at timestamptz,
  ended_at timestamptz,
  created_at timestamptz not null default now(),
  check (ends_at > starts_at),
  check ((drop_name is null) = (edition_size is null) and (drop_symbol is null) = (edition_size is null) and (min_listens is null) = (edition_size is null)),
  check (editions_claimed <= coalesce(edition_size, 0))
);
create index campaigns_song on campaigns (song_id, created_at desc);
create index campaigns_active on campaigns (ends_at, id) where status = 'ACTIVE';

create table participants (
  id uuid primary key,
  campaign_id uuid not null references campaigns (id),
  user_id uuid not null,
  referral_code text not null unique,
  referred_by uuid references participants (id),
  joined_at timestamptz not null default now(),
  constraint participants_once unique (campaign_id, user_id),
  check (referred_by <> id)
);
create index participants_referrer on participants (referred_by) where referred_by is not null;
create index participants_user on participants (user_id);

-- listen.completed.v1 of songs that have campaigns, by users who take part in one of them.
create table listens (
  session_id uuid primary key,
  user_id uuid not null,
  song_id uuid not null,
  completed_at timestamptz not null
);
create index listens_user_song on listens (user_id, song_id, completed_at);
create index listens_song on listens (song_id, completed_at);

-- One edition per participant and never two participants on one edition, never beyond the drop.
-- PENDING: the edition is the participant's, its mint is not confirmed on chain yet (retried);
-- MINTED: confirmed on chain, or recorded without a chain.
create table mints (
  campaign_id uuid not null references campaigns (id),
  edition_number int not null check (edition_number >= 1),
  participant_id uuid not null unique references participants (id),
  user_id uuid not null,
  wallet_address text not null,
  status text not null check (status in ('PENDING', 'MINTED')),
  contract_address text,
  tx_hash text,
  attempts int not null default 0,
  last_error text,
  reserved_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  minted_at timestamptz,
  primary key (campaign_id, edition_number)
);
create index mints_pending on mints (reserved_at) where status = 'PENDING';
`,
  ),
  sqlMigration(
    '0002_campaign_deployments',
    `
-- Activation with a chain and a drop deploys the collection outside any transaction: the campaign
-- stays DRAFT while its deployment is pending (deploy_requested_at set), then turns ACTIVE with the
-- deployed address. The signed deployment is recorded before it is broadcast, so a retried or swept
-- activation finishes that same deployment (its address follows from the deployer and the nonce).
alter table campaigns
  add column deploy_requested_at timestamptz,
  add column deploy_tx_hash text,
  add column deploy_nonce bigint check (deploy_nonce >= 0),
  add column deploy_address text,
  add column deploy_raw_tx text,
  add column deploy_attempts int not null default 0 check (deploy_attempts >= 0),
  add column deploy_last_attempt_at timestamptz,
  add column deploy_error text,
  add check ((deploy_tx_hash is null) = (deploy_nonce is null) and (deploy_tx_hash is null) = (deploy_address is null) and (deploy_tx_hash is null) = (deploy_raw_tx is null)),
  add check (deploy_tx_hash is null or deploy_requested_at is not null or status <> 'DRAFT');
create index campaigns_deploying on campaigns (deploy_requested_at) where status = 'DRAFT' and deploy_requested_at is not null;
`,
  ),
];
