import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_payments',
    `
-- One Stripe customer per user, created on first need.
create table customers (
  user_id uuid primary key,
  stripe_customer_id text not null unique,
  created_at timestamptz not null default now()
);

-- Stripe subscriptions as the webhooks last described them. version is the Stripe event's
-- "created" (seconds) of the stored state: an older event never overwrites it.
create table subscriptions (
  stripe_subscription_id text primary key,
  user_id uuid not null,
  stripe_customer_id text,
  plan_id text not null check (plan_id in ('CREATOR', 'PRO', 'STUDIO')),
  status text not null check (status in ('ACTIVE', 'TRIALING', 'PAST_DUE', 'CANCELED', 'INCOMPLETE', 'UNPAID')),
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  stripe_created_at timestamptz not null,
  version bigint not null check (version >= 0),
  updated_at timestamptz not null default now()
);
create index subscriptions_user on subscriptions (user_id);

-- The plan last published in billing.entitlements.changed.v1 (no row: FREE).
create table user_plans (
  user_id uuid primary key,
  plan_id text not null check (plan_id in ('FREE', 'CREATOR', 'PRO', 'STUDIO')),
  changed_at timestamptz not null
);

-- Stripe webhook events that took effect, recorded in the transaction of their effects.
create table stripe_events (
  event_id text primary key,
  type text not null,
  created_at timestamptz not null,
  received_at timestamptz not null default now()
);

-- Deposits (card or USDC) and subscription invoices.
create table payments (
  id uuid primary key,
  user_id uuid not null,
  kind text not null check (kind in ('DEPOSIT', 'SUBSCRIPTION')),
  method text not null check (method in ('CARD', 'USDC_ETHEREUM', 'USDC_SOLANA')),
  status text not null check (status in ('PENDING', 'SUCCEEDED', 'FAILED')),
  amount_cents bigint not null check (amount_cents >= 0),
  stripe_payment_intent_id text unique,
  stripe_invoice_id text unique,
  deposit_address text,
  expected_base_units numeric(78, 0) check (expected_base_units > 0),
  received_base_units numeric(78, 0) check (received_base_units > 0),
  tx_hash text,
  succeeded_at timestamptz,
  seq bigserial not null,
  created_at timestamptz not null default now(),
  -- A transaction funds one deposit only.
  constraint payments_tx_hash_key unique (method, tx_hash),
  check (kind <> 'DEPOSIT' or amount_cents between 500 and 1000000),
  check (kind <> 'DEPOSIT' or method = 'CARD' or (deposit_address is not null and expected_base_units is not null)),
  check ((status = 'SUCCEEDED') = (succeeded_at is not null))
);
create index payments_user on payments (user_id, seq desc);

-- Projection of catalog.upload.stored.v1, for entitlements' "used".
create table uploads (
  upload_id uuid primary key,
  user_id uuid not null,
  bytes bigint not null check (bytes >= 0),
  stored_at timestamptz not null
);
create index uploads_user_time on uploads (user_id, stored_at);
`,
  ),
  sqlMigration(
    '0002_linked_wallets',
    `
-- Projection of identity.wallet.linked.v1: the wallets a user proved control of. A USDC deposit
-- is funded only by a transfer from one of its owner's wallets on that chain. Addresses as
-- walletKey spells them (Ethereum lower-case, Solana base58 as is); identity links a wallet to
-- one account only.
create table linked_wallets (
  chain text not null check (chain in ('ETHEREUM', 'SOLANA')),
  address text not null,
  user_id uuid not null,
  linked_at timestamptz not null,
  primary key (chain, address),
  check (chain <> 'ETHEREUM' or address ~ '^0x[0-9a-f]{40}$')
);
create index linked_wallets_user on linked_wallets (user_id, chain);
`,
  ),
];
