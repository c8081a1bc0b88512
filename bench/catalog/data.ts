/**
 * Generated catalog data for the catalog benchmark: artists, albums and published songs written
 * with `insert ... select ... from generate_series` straight into the catalog schema's tables
 * (after the catalog subgraph has migrated it), so 100,000 songs take seconds.
 *
 * Titles, artist names and genres are drawn from word lists with a hash of the row number, so
 * the data is the same on every run, words repeat the way they do in a real catalog (each title
 * word is in roughly 1% of the titles) and both the full-text (search_vector) and the trigram
 * (search_text) indexes have real work to do. Genres are skewed: Pop is common, Bossa Nova rare.
 */
import type pg from 'pg';

const ADJECTIVES = [
  'Golden',
  'Silver',
  'Velvet',
  'Electric',
  'Neon',
  'Crimson',
  'Hollow',
  'Quiet',
  'Broken',
  'Wild',
  'Burning',
  'Frozen',
  'Fading',
  'Endless',
  'Lonely',
  'Bitter',
  'Sweet',
  'Gentle',
  'Restless',
  'Distant',
  'Sacred',
  'Savage',
  'Silent',
  'Lucky',
  'Wicked',
  'Paper',
  'Glass',
  'Cosmic',
  'Lunar',
  'Solar',
  'Northern',
  'Southern',
  'Hidden',
  'Secret',
  'Brave',
  'Tender',
  'Heavy',
  'Hazy',
  'Dusty',
  'Rusty',
  'Crystal',
  'Faded',
  'Stolen',
  'Wandering',
  'Blue',
  'Red',
  'Black',
  'White',
  'Purple',
  'Scarlet',
  'Amber',
  'Emerald',
  'Ivory',
  'Copper',
  'Iron',
  'Stone',
  'Digital',
  'Analog',
  'Tropical',
  'Arctic',
  'Urban',
  'Ancient',
  'Modern',
  'Little',
  'Young',
  'Last',
  'First',
  'Final',
  'Perfect',
  'Strange',
  'Beautiful',
  'Dangerous',
  'Sudden',
  'Slow',
  'Deep',
  'High',
  'Bright',
  'Dark',
  'Cold',
  'Warm',
  'Open',
  'Empty',
  'Lost',
  'Free',
  'Sleepless',
  'Magnetic',
  'Liquid',
  'Holy',
  'Royal',
  'Mellow',
  'Vivid',
  'Phantom',
  'Radiant',
  'Shallow',
  'Painted',
  'Sunken',
  'Hungry',
  'Opal',
  'Invisible',
  'Weightless',
  'Careless',
  'Reckless',
  'Honest',
  'Gilded',
  'Fragile',
  'Feral',
  'Velour',
  'Dorada',
];

const NOUNS = [
  'Horizon',
  'River',
  'Ocean',
  'Mountain',
  'Shadows',
  'Lights',
  'Fire',
  'Rain',
  'Storm',
  'Thunder',
  'Lightning',
  'Heart',
  'Soul',
  'Dreams',
  'Night',
  'Midnight',
  'Morning',
  'Sunset',
  'Sunrise',
  'Moon',
  'Sun',
  'Stars',
  'Sky',
  'Clouds',
  'Wind',
  'Waves',
  'Tide',
  'Garden',
  'Forest',
  'Desert',
  'City',
  'Streets',
  'Highway',
  'Road',
  'Bridge',
  'Tower',
  'Castle',
  'Kingdom',
  'Empire',
  'Echoes',
  'Memory',
  'Memories',
  'Ghosts',
  'Angels',
  'Devil',
  'Mirror',
  'Window',
  'Door',
  'Key',
  'Letter',
  'Song',
  'Melody',
  'Rhythm',
  'Harmony',
  'Symphony',
  'Anthem',
  'Ballad',
  'Lullaby',
  'Serenade',
  'Paradise',
  'Heaven',
  'Eden',
  'Summer',
  'Winter',
  'Autumn',
  'Spring',
  'Daydream',
  'Heartbeat',
  'Pulse',
  'Signal',
  'Frequency',
  'Radio',
  'Satellite',
  'Galaxy',
  'Nebula',
  'Comet',
  'Orbit',
  'Planet',
  'Universe',
  'Diamonds',
  'Gold',
  'Pearl',
  'Roses',
  'Lily',
  'Orchid',
  'Wolves',
  'Fox',
  'Raven',
  'Tiger',
  'Lion',
  'Dragon',
  'Phoenix',
  'Butterfly',
  'Sparrow',
  'Hummingbird',
  'Embers',
  'Ashes',
  'Smoke',
  'Mist',
  'Fog',
  'Snow',
  'Ice',
  'Glacier',
  'Island',
  'Harbor',
  'Lighthouse',
  'Valley',
  'Canyon',
  'Meadow',
  'Lagoon',
  'Waterfall',
  'Candle',
  'Lantern',
  'Compass',
  'Anchor',
  'Voyage',
  'Journey',
  'Escape',
  'Promise',
  'Whisper',
  'Silence',
  'Noise',
  'Riot',
  'Revolution',
  'Freedom',
  'Gravity',
  'Velocity',
  'Motion',
  'Chemistry',
  'Electricity',
  'Magic',
  'Miracle',
  'Mystery',
  'Fortune',
  'Destiny',
  'Karma',
  'Legacy',
  'Coastline',
  'Skyline',
  'Afterglow',
  'Wildfire',
  'Moonlight',
  'Starlight',
  'Corazón',
];

const VERBS = [
  'Chasing',
  'Running',
  'Dancing',
  'Falling',
  'Burning',
  'Waiting',
  'Breaking',
  'Holding',
  'Losing',
  'Finding',
  'Catching',
  'Dreaming',
  'Fading',
  'Flying',
  'Driving',
  'Walking',
  'Crying',
  'Singing',
  'Calling',
  'Leaving',
  'Counting',
  'Drowning',
  'Floating',
  'Shining',
  'Rising',
  'Searching',
  'Hunting',
  'Whispering',
  'Healing',
  'Fighting',
  'Stealing',
  'Building',
  'Crossing',
  'Riding',
  'Turning',
  'Sailing',
];

const PREPOSITIONS = ['over', 'under', 'beyond', 'across', 'through', 'after', 'before', 'without', 'beneath', 'above', 'into', 'from'];

const VERSIONS = ['(Remix)', '(Live)', '(Acoustic)', '(Radio Edit)', '(Extended Mix)', '(Demo)', '(Reprise)', '(Instrumental)', 'Pt. 2', '(feat. Nova)'];

const FIRST_NAMES = [
  'Mara',
  'Jonah',
  'Lena',
  'Theo',
  'Ava',
  'Milo',
  'Iris',
  'Felix',
  'Nora',
  'Elias',
  'Zoe',
  'Oscar',
  'Ruby',
  'Leo',
  'Hazel',
  'Jasper',
  'Clara',
  'Hugo',
  'Ivy',
  'Silas',
  'Maya',
  'Arlo',
  'Luna',
  'Ezra',
  'Stella',
  'Finn',
  'Aria',
  'Caleb',
  'Nina',
  'Otis',
  'Sofia',
  'Kai',
  'Amara',
  'Diego',
  'Yuki',
  'Priya',
  'Tariq',
  'Ingrid',
  'Mateo',
  'Chloe',
  'Rafael',
  'Freya',
  'Kwame',
  'Elena',
  'Marcus',
  'Layla',
  'Dante',
  'Greta',
];

const LAST_NAMES = [
  'Quinn',
  'Hart',
  'Vale',
  'Stone',
  'Rivers',
  'Fox',
  'Blake',
  'Moreau',
  'Lindqvist',
  'Okafor',
  'Castillo',
  'Nakamura',
  'Petrov',
  'Sullivan',
  'Delacroix',
  'Brennan',
  'Ashford',
  'Whitlock',
  'Marlowe',
  'Serrano',
  'Kowalski',
  'Haddad',
  'Fontaine',
  'Reyes',
  'Holm',
  'Abara',
  'Winter',
  'Calloway',
  'Everly',
  'Sinclair',
  'Mercer',
  'Lowell',
  'Archer',
  'Bishop',
  'Crane',
  'Dalton',
  'Ellison',
  'Frost',
  'Gallagher',
  'Hayes',
];

const PLURALS = [
  'Foxes',
  'Wolves',
  'Ravens',
  'Tigers',
  'Comets',
  'Satellites',
  'Strangers',
  'Dreamers',
  'Drifters',
  'Wanderers',
  'Runaways',
  'Pilots',
  'Sailors',
  'Kings',
  'Queens',
  'Saints',
  'Sinners',
  'Vandals',
  'Outlaws',
  'Rebels',
  'Lovers',
  'Monsters',
  'Machines',
  'Astronauts',
];

const BANDS = [
  'Collective',
  'Orchestra',
  'Trio',
  'Quartet',
  'Ensemble',
  'Project',
  'Society',
  'Club',
  'Brothers',
  'Sisters',
  'Band',
  'Syndicate',
  'Experience',
  'Sound System',
];

/** Most common first: the index is drawn as n·u² for a uniform u. */
const GENRES = [
  'Pop',
  'Hip Hop',
  'Rock',
  'Indie Rock',
  'Electronic',
  'R&B',
  'Dance',
  'Alternative',
  'House',
  'Country',
  'Latin',
  'Rap',
  'Soul',
  'Deep House',
  'Techno',
  'Indie Pop',
  'Lo-Fi',
  'Jazz',
  'Folk',
  'Metal',
  'Reggaeton',
  'Synthwave',
  'Ambient',
  'Afrobeats',
  'Drum and Bass',
  'Blues',
  'Punk',
  'Trance',
  'Funk',
  'Dubstep',
  'Reggae',
  'Chillout',
  'Dream Pop',
  'K-Pop',
  'Classical',
  'Soundtrack',
  'Disco',
  'Trip Hop',
  'Shoegaze',
  'Gospel',
  'Grunge',
  'Dancehall',
  'Americana',
  'Salsa',
  'Bossa Nova',
];

const LISTS = { ADJECTIVES, NOUNS, VERBS, PREPOSITIONS, VERSIONS, FIRST_NAMES, LAST_NAMES, PLURALS, BANDS, GENRES };
type ListName = keyof typeof LISTS;

/** The parameters of one statement, numbered as they are first used. */
class Params {
  readonly values: unknown[] = [];
  private readonly lists = new Map<ListName, string>();

  /** A word list as a text[] parameter. */
  list(name: ListName): string {
    let ref = this.lists.get(name);
    if (!ref) {
      this.values.push(LISTS[name]);
      ref = `$${this.values.length}::text[]`;
      this.lists.set(name, ref);
    }
    return ref;
  }

  /** An element of a word list chosen by a non-negative hash column. */
  pick(name: ListName, hash: string): string {
    const list = this.list(name);
    return `(${list})[1 + ${hash} % cardinality(${list})]`;
  }

  int(value: number): string {
    this.values.push(value);
    return `$${this.values.length}::int`;
  }
}

/** Columns h1..hN: independent non-negative hashes of the row number `n`. */
function hashes(count: number): string {
  return Array.from({ length: count }, (_, k) => `(hashint4(n * 16 + ${k + 1}) & 2147483647) as h${k + 1}`).join(', ');
}

export interface GenerateOptions {
  songs: number;
  artists: number;
  albumsPerArtist: number;
}

export interface Generated {
  artists: number;
  albums: number;
  songs: number;
  seconds: number;
  analyzeSeconds: number;
}

/** Writes the catalog (into an empty `catalog` schema) and then runs VACUUM ANALYZE on its tables. */
export async function generateCatalog(db: pg.Client, options: GenerateOptions): Promise<Generated> {
  const started = performance.now();
  await db.query('begin');
  // The generated columns and the GIN indexes are maintained as rows arrive; more memory makes that cheaper.
  await db.query(`set local maintenance_work_mem = '256MB'`);
  await db.query(`set local work_mem = '64MB'`);

  const a = new Params();
  await db.query(
    `insert into catalog.artists (id, user_id, name, created_at)
     select md5('artist-' || n)::uuid, md5('artist-user-' || n)::uuid,
       case n % 4
         when 1 then ${a.pick('FIRST_NAMES', 'h1')} || ' ' || ${a.pick('LAST_NAMES', 'h2')}
         when 2 then 'The ' || ${a.pick('ADJECTIVES', 'h1')} || ' ' || ${a.pick('PLURALS', 'h2')}
         when 3 then ${a.pick('ADJECTIVES', 'h1')} || ' ' || ${a.pick('NOUNS', 'h2')}
         else ${a.pick('NOUNS', 'h1')} || ' ' || ${a.pick('BANDS', 'h2')}
       end,
       now() - make_interval(days => 400 + h3 % 2000)
     from (select n, ${hashes(3)} from generate_series(1, ${a.int(options.artists)}) n) g`,
    a.values,
  );

  // Album n belongs to artist 1 + (n - 1) % artists, so artist k's albums are k, k + artists, k + 2 * artists, ...
  const b = new Params();
  const artistsB = b.int(options.artists);
  await db.query(
    `insert into catalog.albums (id, artist_id, title, release_date, created_at)
     select md5('album-' || n)::uuid, md5('artist-' || (1 + (n - 1) % ${artistsB}))::uuid,
       case h3 % 3
         when 0 then ${b.pick('ADJECTIVES', 'h1')} || ' ' || ${b.pick('NOUNS', 'h2')}
         when 1 then ${b.pick('NOUNS', 'h1')}
         else ${b.pick('VERBS', 'h1')} || ' ' || ${b.pick('NOUNS', 'h2')}
       end,
       now() - make_interval(days => h4 % 3000), now() - make_interval(days => h4 % 3000)
     from (select n, ${hashes(4)} from generate_series(1, ${artistsB} * ${b.int(options.albumsPerArtist)}) n) g`,
    b.values,
  );

  // Songs: a hashed artist and one of its albums (one song in five is a single, without album).
  const c = new Params();
  const title = `case h1 % 10
      when 0 then ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')}
      when 1 then ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')}
      when 2 then ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')}
      when 3 then ${c.pick('NOUNS', 'h3')}
      when 4 then ${c.pick('VERBS', 'h4')} || ' ' || ${c.pick('NOUNS', 'h3')}
      when 5 then ${c.pick('NOUNS', 'h3')} || ' ' || ${c.pick('PREPOSITIONS', 'h5')} || ' the ' || ${c.pick('NOUNS', 'h6')}
      when 6 then 'The ' || ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')}
      when 7 then ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')} || ' ' || ${c.pick('VERSIONS', 'h5')}
      when 8 then ${c.pick('VERBS', 'h4')} || ' the ' || ${c.pick('ADJECTIVES', 'h2')} || ' ' || ${c.pick('NOUNS', 'h3')}
      else ${c.pick('NOUNS', 'h3')} || ' & ' || ${c.pick('NOUNS', 'h6')}
    end`;
  const genres = c.list('GENRES');
  const artistsC = c.int(options.artists);
  await db.query(
    `insert into catalog.songs (id, artist_id, album_id, title, genre, status, artist_name, duration_seconds, codec, bitrate_kbps,
       play_count, media_key, media_content_type, media_bytes, media_etag, created_at, published_at)
     select md5('song-' || g.n)::uuid, a.id,
       case when g.h8 % 5 = 0 then null else md5('album-' || (g.artist + (g.h9 % ${c.int(options.albumsPerArtist)}) * ${artistsC}))::uuid end,
       g.title,
       (${genres})[1 + floor(cardinality(${genres}) * power(g.h7 / 2147483648.0, 2))::int],
       'PUBLISHED', a.name, 90 + g.h10 % 360, 'MPEG 1 Layer 3', 320, g.h11 % 50000,
       'songs/bench-' || g.n, 'audio/mpeg', 3000000 + g.h12 % 9000000, md5('etag-' || g.n), g.at, g.at
     from (
       select 1 + h13 % ${artistsC} as artist, ${title} as title, now() - make_interval(mins => h14 % 1000000) as at, h.*
       from (select n, ${hashes(14)} from generate_series(1, ${c.int(options.songs)}) n) h
     ) g
     join catalog.artists a on a.id = md5('artist-' || g.artist)::uuid`,
    c.values,
  );
  await db.query('commit');
  const generated = performance.now();
  await db.query('vacuum (analyze) catalog.artists, catalog.albums, catalog.songs');
  return {
    artists: options.artists,
    albums: options.artists * options.albumsPerArtist,
    songs: options.songs,
    seconds: (generated - started) / 1000,
    analyzeSeconds: (performance.now() - generated) / 1000,
  };
}
