import { jobsMigrationSql, sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_notifications',
    `
-- Projection of catalog.song.published.v1: titles to name songs in notifications.
create table songs (
  song_id uuid primary key,
  title text not null
);

-- One row per business event (source_key), whatever event ids carried it.
-- data holds the event's facts; title and body are rendered from them when read.
create table notifications (
  id uuid primary key,
  user_id uuid not null,
  kind text not null check (kind in ('REWARD_VOUCHER', 'ORDER_FILLED', 'REVENUE_PAID', 'DEPOSIT_SUCCEEDED', 'SUBSCRIPTION_CHANGED', 'CAMPAIGN_NFT_MINTED')),
  source_key text not null,
  song_id uuid,
  data jsonb not null,
  created_at timestamptz not null,
  read_at timestamptz,
  seq bigserial not null,
  constraint notifications_source_key unique (user_id, kind, source_key)
);
create index notifications_user_recent on notifications (user_id, created_at desc, seq desc);
create index notifications_user_unread on notifications (user_id, created_at desc, seq desc) where read_at is null;

-- Only the kinds a user changed; a missing row means enabled.
create table notification_preferences (
  user_id uuid not null,
  kind text not null check (kind in ('REWARD_VOUCHER', 'ORDER_FILLED', 'REVENUE_PAID', 'DEPOSIT_SUCCEEDED', 'SUBSCRIPTION_CHANGED', 'CAMPAIGN_NFT_MINTED')),
  enabled boolean not null,
  updated_at timestamptz not null default now(),
  primary key (user_id, kind)
);
`,
  ),
  sqlMigration(
    '0002_push_subscriptions',
    `
-- Web Push: each browser subscription (RFC 8030 endpoint, RFC 8291 keys) of a user. An endpoint
-- is one browser's, so it is unique: registered again by another user, it moves to that user.
create table push_subscriptions (
  id uuid primary key,
  user_id uuid not null,
  endpoint text not null unique check (length(endpoint) <= 1024),
  endpoint_origin text not null,
  p256dh text not null,
  auth text not null,
  created_at timestamptz not null default now()
);
create index push_subscriptions_user on push_subscriptions (user_id, created_at);

-- What each subscription's push service answered for a notification (SENT, or REFUSED for a
-- request it will never take), so a retried job sends only to the subscriptions still owed one.
create table push_deliveries (
  notification_id uuid not null,
  subscription_id uuid not null,
  outcome text not null check (outcome in ('SENT', 'REFUSED')),
  status integer,
  at timestamptz not null default now(),
  primary key (notification_id, subscription_id)
);
`,
  ),
  // Channels (IN_APP, EMAIL, PUSH) per kind, the contact projection email goes to, and the kernel's
  // job queue that carries each (notification, channel) delivery (src/deliveries.ts).
  sqlMigration(
    '0003_notification_channels',
    `
-- Only the (kind, channel) pairs a user changed for EMAIL and PUSH; a missing row means enabled.
-- IN_APP stays in notification_preferences (its enabled is the kind's in-app setting).
create table notification_channel_preferences (
  user_id uuid not null,
  kind text not null check (kind in ('REWARD_VOUCHER', 'ORDER_FILLED', 'REVENUE_PAID', 'DEPOSIT_SUCCEEDED', 'SUBSCRIPTION_CHANGED', 'CAMPAIGN_NFT_MINTED')),
  channel text not null check (channel in ('EMAIL', 'PUSH')),
  enabled boolean not null,
  updated_at timestamptz not null default now(),
  primary key (user_id, kind, channel)
);

-- Projection of identity.user.contact_changed.v1 (the highest version wins).
create table user_contacts (
  user_id uuid primary key,
  email text not null,
  email_verified boolean not null,
  display_name text not null,
  version integer not null,
  changed_at timestamptz not null
);

-- A notification kept only for its email or push (its kind's IN_APP off) is not listed, counted or pushed live.
alter table notifications add column in_app boolean not null default true;
${jobsMigrationSql}`,
  ),
];
