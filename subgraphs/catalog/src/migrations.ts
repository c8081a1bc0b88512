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
];
