import { sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_discovery',
    `
-- Projection of catalog.song.published.v1: only published songs exist here, so drafts never appear.
create table songs (
  song_id uuid primary key,
  artist_id uuid not null,
  title text not null,
  genre text not null,
  duration_seconds int not null,
  published_at timestamptz not null
);
create index songs_artist on songs (artist_id);
create index songs_genre on songs (lower(genre));

-- Each listener's distinct completed songs (listen.completed.v1), with the last completion.
create table user_songs (
  user_id uuid not null,
  song_id uuid not null,
  completions int not null default 1,
  first_completed_at timestamptz not null,
  last_completed_at timestamptz not null,
  primary key (user_id, song_id)
);
create index user_songs_recent on user_songs (user_id, last_completed_at desc);

-- Distinct listeners per song (popularity, the cosine's norms).
create table song_listeners (
  song_id uuid primary key,
  listeners int not null default 0
);

-- Co-listening: distinct listeners who completed both songs, stored both ways so either song finds
-- its neighbours by index. Pairs under k listeners are kept (they may grow) but never read.
create table pair_listeners (
  song_a uuid not null,
  song_b uuid not null,
  listeners int not null,
  primary key (song_a, song_b)
);
create index pair_listeners_usable on pair_listeners (song_a, listeners desc);

-- Completed listens per song and day: trending sums the last 7 days.
create table song_daily (
  song_id uuid not null,
  day date not null,
  listens int not null default 0,
  primary key (song_id, day)
);
create index song_daily_day on song_daily (day);

-- Artist radio sessions: the songs served so far, so a session never repeats one.
create table radio_sessions (
  id uuid primary key,
  user_id uuid not null,
  artist_id uuid not null,
  served uuid[] not null default '{}',
  created_at timestamptz not null default now()
);
`,
  ),
  sqlMigration(
    '0002_song_neighbours',
    `
-- Each published song's strongest usable neighbours (pairs of at least k listeners, published songs
-- only), ranked by similarity: what recommendations, Song.similar and radio read, one index range per
-- seed. Rebuilt per song, never as a whole: a listen marks the songs whose rows it changed.
create table song_neighbours (
  song_id uuid not null,
  rank smallint not null,
  neighbour_id uuid not null,
  artist_id uuid not null,
  co int not null,
  score double precision not null,
  primary key (song_id, rank)
);

-- Songs whose neighbour rows are stale: marked in the transaction of the event that changed their
-- pairs, recomputed in batches (a song marked by many events is recomputed once).
create table neighbour_dirty (
  song_id uuid primary key,
  since timestamptz not null default now()
);
create index neighbour_dirty_since on neighbour_dirty (since);

-- Existing songs get their rows from the first batches.
insert into neighbour_dirty (song_id) select song_id from songs;
`,
  ),
  sqlMigration(
    '0003_user_interactions',
    `
-- Each user's distinct interactions with songs: a completed listen, a playlist add, a share purchase or a
-- campaign join, whichever came first. A user's first interaction with a song (one row, whatever its kinds)
-- makes them one more distinct user of the song (song_listeners) and of its pairs (pair_listeners).
create table user_interactions (
  user_id uuid not null,
  song_id uuid not null,
  first_at timestamptz not null,
  primary key (user_id, song_id)
);
create index user_interactions_recent on user_interactions (user_id, first_at desc);

-- Until now the only interaction was a completed listen.
insert into user_interactions (user_id, song_id, first_at) select user_id, song_id, first_completed_at from user_songs;
`,
  ),
];
