import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_loyalty',
    `
-- Projection of catalog.artist.created.v1: which user an artist profile belongs to.
create table artists (
  artist_id uuid primary key,
  user_id uuid not null,
  name text not null
);
create index artists_user on artists (user_id);

-- Projection of identity.user.registered.v1: a ticket is transferred only to an existing user.
create table users (
  user_id uuid primary key
);

-- Projection of catalog.song.published.v1: each song's artist (fan signals are per song).
create table songs (
  song_id uuid primary key,
  artist_id uuid not null
);
create index songs_artist on songs (artist_id);

-- Fan signals per user and song, from listen.completed.v1, ownership.trade.executed.v1 and
-- campaigns.nft.minted.v1; tiers sum them over an artist's songs when read.
create table fan_song_signals (
  user_id uuid not null,
  song_id uuid not null,
  listens int not null default 0,
  shares int not null default 0,
  campaign_nfts int not null default 0,
  primary key (user_id, song_id)
);

create table events (
  id uuid primary key,
  artist_id uuid not null,
  artist_user_id uuid not null,
  title text not null,
  venue text not null,
  starts_at timestamptz not null,
  -- Ed25519: the public key's 32 raw bytes and the private key's PKCS#8 DER, base64url.
  door_public_key text not null,
  door_private_key text not null,
  created_at timestamptz not null default now()
);
create index events_upcoming on events (starts_at, id);
create index events_artist on events (artist_id, starts_at);

-- sold counts reserved and issued tickets; the check makes overselling impossible.
create table ticket_types (
  id uuid primary key,
  event_id uuid not null references events (id),
  position int not null,
  name text not null,
  price_cents int not null check (price_cents >= 0),
  capacity int not null check (capacity >= 1),
  sold int not null default 0 check (sold >= 0 and sold <= capacity),
  sale_starts_at timestamptz not null,
  presale_starts_at timestamptz,
  presale_min_tier text check (presale_min_tier in ('BRONZE', 'SILVER', 'GOLD', 'PLATINUM')),
  presale_for_shareholders boolean not null default false
);
create index ticket_types_event on ticket_types (event_id, position);

create table purchases (
  id uuid primary key,
  user_id uuid not null,
  client_purchase_id text not null,
  ticket_type_id uuid not null references ticket_types (id),
  quantity int not null check (quantity > 0),
  amount_cents bigint not null check (amount_cents >= 0),
  status text not null check (status in ('PENDING', 'CONFIRMED', 'FAILED')),
  failure_reason text,
  created_at timestamptz not null default now(),
  settled_at timestamptz,
  constraint purchases_client_id unique (user_id, client_purchase_id)
);

-- generation grows with each transfer: QR codes carry it, so an old holder's codes are stale.
create table tickets (
  id uuid primary key,
  purchase_id uuid not null references purchases (id),
  ticket_type_id uuid not null references ticket_types (id),
  event_id uuid not null references events (id),
  holder_id uuid not null,
  generation int not null default 1,
  admitted_at timestamptz,
  admitted_device text,
  created_at timestamptz not null default now(),
  seq bigserial not null
);
create index tickets_holder on tickets (holder_id, seq);
create index tickets_purchase on tickets (purchase_id);

-- Every admission a door reported (online or synced): one ADMITTED per ticket at most.
create table admissions (
  id uuid primary key,
  ticket_id uuid not null references tickets (id),
  event_id uuid not null,
  device_id text not null,
  admitted_at timestamptz not null,
  offline boolean not null,
  status text not null check (status in ('ADMITTED', 'CONFLICT')),
  constraint admissions_device unique (ticket_id, device_id)
);
create unique index admissions_one_winner on admissions (ticket_id) where status = 'ADMITTED';
create index admissions_conflicts on admissions (event_id) where status = 'CONFLICT';

-- An NFC UID is bound to one ticket per event, and a ticket has one band, while not revoked.
create table wristbands (
  id uuid primary key,
  event_id uuid not null,
  uid text not null,
  ticket_id uuid not null references tickets (id),
  bound_at timestamptz not null default now(),
  revoked_at timestamptz
);
create unique index wristbands_uid on wristbands (event_id, uid) where revoked_at is null;
create unique index wristbands_ticket on wristbands (ticket_id) where revoked_at is null;
create index wristbands_lookup on wristbands (event_id, uid, bound_at desc);

-- Door devices' credentials: only a hash of each token is kept.
create table staff_tokens (
  token_hash text primary key,
  event_id uuid not null references events (id),
  label text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
`,
  ),
];
