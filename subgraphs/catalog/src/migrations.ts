import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_catalog',
    `
create extension if not exists pg_trgm with schema public;

create table artists (
  id uuid primary key,
  user_id uuid not null unique,
  name text not null check (length(name) between 1 and 120),
  bio text,
  created_at timestamptz not null default now()
);

create table albums (
  id uuid primary key,
  artist_id uuid not null references artists(id),
  title text not null check (length(title) between 1 and 200),
  release_date timestamptz,
  created_at timestamptz not null default now()
);
create index albums_artist on albums (artist_id, created_at);

create table songs (
  id uuid primary key,
  artist_id uuid not null references artists(id),
  album_id uuid references albums(id),
  title text not null check (length(title) between 1 and 200),
  genre text not null check (length(genre) between 1 and 60),
  isrc text,
  status text not null default 'DRAFT' check (status in ('DRAFT', 'PUBLISHED')),
  -- Copied from the artist so search ranks on it without a join.
  artist_name text not null,
  duration_seconds int check (duration_seconds >= 0),
  codec text,
  bitrate_kbps int,
  play_count int not null default 0 check (play_count >= 0),
  media_key text,
  media_content_type text,
  media_bytes bigint check (media_bytes >= 0),
  media_etag text,
  created_at timestamptz not null default now(),
  published_at timestamptz,
  search_vector tsvector generated always as (
    setweight(to_tsvector('simple', title), 'A') ||
    setweight(to_tsvector('simple', artist_name), 'B') ||
    setweight(to_tsvector('simple', genre), 'C')
  ) stored,
  search_text text generated always as (lower(title || ' ' || artist_name || ' ' || genre)) stored,
  constraint songs_published_has_media check (status = 'DRAFT' or (media_key is not null and duration_seconds is not null))
);
create index songs_artist on songs (artist_id, created_at desc, id desc);
create index songs_album on songs (album_id) where album_id is not null;
create index songs_search_vector on songs using gin (search_vector) where status = 'PUBLISHED';
create index songs_search_trgm on songs using gin (search_text public.gin_trgm_ops) where status = 'PUBLISHED';

create table upload_tickets (
  id uuid primary key,
  song_id uuid not null references songs(id),
  user_id uuid not null,
  content_type text not null,
  max_bytes bigint not null check (max_bytes > 0),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  stored_at timestamptz,
  stored_bytes bigint
);
create index upload_tickets_user_month on upload_tickets (user_id, created_at);

create table playlists (
  id uuid primary key,
  owner_id uuid not null,
  name text not null check (length(name) between 1 and 120),
  created_at timestamptz not null default now()
);
create index playlists_owner on playlists (owner_id, created_at desc, id desc);

create table playlist_songs (
  playlist_id uuid not null references playlists(id) on delete cascade,
  song_id uuid not null references songs(id),
  position bigserial not null,
  added_at timestamptz not null default now(),
  primary key (playlist_id, song_id)
);
create index playlist_songs_order on playlist_songs (playlist_id, position);

-- Completed listens, one row per listen.completed.v1 event.
create table listens (
  event_id uuid primary key,
  song_id uuid not null,
  completed_at timestamptz not null
);
create index listens_recent on listens (completed_at, song_id);

-- Projection of billing.entitlements.changed.v1: users without a row are on FREE.
create table user_plans (
  user_id uuid primary key,
  plan_id text not null,
  uploads_monthly int,
  storage_bytes bigint,
  changed_at timestamptz not null
);
`,
  ),
  sqlMigration(
    '0002_stream_jobs',
    `
-- The stream.maxBitrateKbps entitlement; null on rows projected before it: the plan's default applies.
alter table user_plans add column stream_max_bitrate_kbps int;

-- One transcoding job per song (src/transcode/): claimed with FOR UPDATE SKIP LOCKED by the
-- workers of every replica, leased (a worker that dies lets its lease lapse and another claims
-- the job again), retried with backoff, and READY or FAILED in the end. attempt is the fencing
-- token: only the worker holding the current attempt may heartbeat or finish it.
create table stream_jobs (
  song_id uuid primary key references songs(id),
  status text not null default 'PENDING' check (status in ('PENDING', 'PROCESSING', 'READY', 'FAILED')),
  source_key text not null,
  source_bitrate_kbps int,
  attempt int not null default 0 check (attempt >= 0),
  run_after timestamptz not null default now(),
  lease_until timestamptz,
  worker_id text,
  last_error text,
  failure_reason text,
  -- The AES-128 key of the song's segments (HLS light DRM), fixed when the job is made.
  encryption_key bytea not null check (length(encryption_key) = 16),
  -- Where the READY attempt's files are, and what they are.
  output_prefix text,
  renditions jsonb,
  loudness_lufs double precision,
  true_peak_dbtp double precision,
  waveform jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint stream_jobs_ready_has_output check (status <> 'READY' or (output_prefix is not null and renditions is not null))
);
create index stream_jobs_due on stream_jobs (run_after) where status = 'PENDING';
create index stream_jobs_leased on stream_jobs (lease_until) where status = 'PROCESSING';

-- Songs published before streaming existed get their job too.
insert into stream_jobs (song_id, source_key, source_bitrate_kbps, encryption_key)
select id, media_key, bitrate_kbps, decode(replace(gen_random_uuid()::text, '-', ''), 'hex')
from songs where status = 'PUBLISHED' and media_key is not null;
`,
  ),
];
