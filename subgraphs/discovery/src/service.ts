import { randomUUID } from 'node:crypto';
import { badInput, requireAuth, startPeriodic, type Logger, type PeriodicTask, type Persistence, type Principal, type Session } from '@vibestream/platform';
import {
  EXCLUDE_RECENT_DAYS,
  HISTORY_SEEDS,
  STORED_NEIGHBOURS,
  diversify,
  radioPage,
  rankNeighbours,
  topNeighbours,
  withFallback,
  type Ranked,
} from './domain/ranking.ts';
import * as store from './store.ts';

/** Neighbours read per seed song: bounds a request's work whatever the history. */
const NEIGHBOURS_PER_SEED = 30;
/** The caller's songs (most recent first) that rank behind new ones. */
const KNOWN_SONGS = 1000;
/** Candidates a radio page is chosen from. */
const RADIO_POOL = 300;
const TRENDING_DAYS = 7;
/** How long this process reuses a global list (trending, a genre's popular songs): they change slowly. */
const SHARED_LIST_TTL_MS = 30_000;
/** At most this many shared lists per process (one per genre and page size, trending). */
const SHARED_LISTS = 5000;
/** Marked songs whose neighbour rows one batch (one transaction) recomputes. */
const REFRESH_BATCH = 200;
/** The caller's genres that cold start fills from. */
const COLD_START_GENRES = 3;

export interface RecommendationModel {
  songId: string;
  reason: string;
}

export interface RadioPageModel {
  sessionId: string;
  songIds: string[];
  hasNextPage: boolean;
}

const asRanked = (rows: readonly store.SongRow[], reason: (r: store.SongRow) => string): Ranked[] =>
  rows.map((r) => ({ songId: r.song_id, artistId: r.artist_id, score: r.score, reason: reason(r) }));

/** The order of popularInGenres: most listeners, then newest, then id. */
const byPopularity = (a: store.SongRow, b: store.SongRow) =>
  b.score - a.score || b.published_at.getTime() - a.published_at.getTime() || (a.song_id < b.song_id ? -1 : a.song_id > b.song_id ? 1 : 0);

/** The genres of these songs (published ones), most completions first (ties by name), one spelling per genre. */
function genresOf(songs: readonly store.ListenerSong[], limit: number): string[] {
  const byGenre = new Map<string, { name: string; completions: number }>();
  for (const s of songs) {
    if (s.genre === null) continue;
    const key = s.genre.toLowerCase();
    const entry = byGenre.get(key);
    if (!entry) byGenre.set(key, { name: s.genre, completions: s.completions });
    else {
      entry.completions += s.completions;
      if (s.genre < entry.name) entry.name = s.genre;
    }
  }
  return [...byGenre.entries()]
    .sort(([ka, a], [kb, b]) => b.completions - a.completions || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .slice(0, limit)
    .map(([, e]) => e.name);
}

/** discovery's use cases: reads of the precomputed tables; the only write is a radio session's served set. */
export class DiscoveryService {
  private readonly db: Persistence;
  private readonly k: number;
  private readonly now: () => Date;
  /** Global lists shared by every caller, kept briefly per process: cold start reads them, not the tables. */
  private readonly shared = new Map<string, { until: number; rows: Promise<store.SongRow[]>; reloading: boolean }>();

  constructor(deps: { db: Persistence; minPairListeners: number; now?: () => Date }) {
    this.db = deps.db;
    this.k = deps.minPairListeners;
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Songs for the caller: neighbours of their recent history, then their genres' popular songs, then
   * trending. One statement reads the caller's songs (seeds, exclusions, known songs and genres from
   * one index range) and the seeds' rows of the neighbour table; the fallback lists are shared per process.
   */
  async recommendedSongs(principal: Principal | null | undefined, first: number): Promise<RecommendationModel[]> {
    const { userId } = requireAuth(principal);
    if (first === 0) return [];
    const db = this.db.reader();
    const now = this.now();
    const since = new Date(now.getTime() - EXCLUDE_RECENT_DAYS * 86_400_000);
    const { songs: mine, neighbours: found } = await store.recommendationInputs(db, userId, {
      since,
      recent: KNOWN_SONGS,
      seeds: HISTORY_SEEDS,
      perSeed: NEIGHBOURS_PER_SEED,
    });
    const excluded = new Set<string>();
    const known = new Set<string>();
    const titles = new Map<string, string>();
    for (const song of mine) {
      if (song.last_completed_at >= since) excluded.add(song.song_id);
      if (known.size < KNOWN_SONGS) known.add(song.song_id);
      if (song.title !== null) titles.set(song.song_id, song.title);
    }
    let candidates = rankNeighbours(
      found.map((n) => ({
        seedId: n.seed_id,
        seedTitle: titles.get(n.seed_id) ?? '',
        candidateId: n.candidate_id,
        artistId: n.artist_id,
        co: n.co,
        similarity: n.similarity,
      })),
      excluded,
      this.k,
      known,
    );
    // Cold start and fill: the genres of the caller's history, then trending.
    const want = first * 2;
    if (candidates.length < want) {
      // The genres of every song of the caller: from the rows at hand unless there may be more.
      const genres = mine.length < KNOWN_SONGS ? genresOf(mine, COLD_START_GENRES) : await store.topGenres(db, userId, COLD_START_GENRES);
      const popular = await this.popularInGenres(db, genres, want);
      candidates = withFallback(
        candidates,
        asRanked(popular, (r) => `popular in ${r.genre}`),
        excluded,
      );
    }
    if (candidates.length < want) {
      const hot = await this.trendingRows(db, now, want);
      candidates = withFallback(
        candidates,
        asRanked(hot, () => 'trending now'),
        excluded,
      );
    }
    return diversify(candidates, first).map((c) => ({ songId: c.songId, reason: c.reason }));
  }

  /** Songs most often listened to by this song's listeners (pairs of at least k listeners), never itself. */
  async similar(songId: string, first: number): Promise<string[]> {
    if (first === 0) return [];
    const found = await store.neighbours(this.db.reader(), [songId], Math.max(first, NEIGHBOURS_PER_SEED));
    const ranked = rankNeighbours(
      found.map((n) => ({ seedId: n.seed_id, seedTitle: '', candidateId: n.candidate_id, artistId: n.artist_id, co: n.co, similarity: n.similarity })),
      new Set([songId]),
      this.k,
    );
    return ranked.slice(0, first).map((r) => r.songId);
  }

  /**
   * Recomputes the neighbour rows of the songs marked since the last pass, in batches of
   * REFRESH_BATCH songs (each batch one transaction: claim, read their usable pairs, replace their
   * rows): only marked songs, each once however many events marked it. Answers the songs recomputed.
   */
  async refreshNeighbours(maxBatches = Infinity): Promise<string[]> {
    const done: string[] = [];
    for (let batch = 0; batch < maxBatches; batch++) {
      const songs = await this.db.useCase(async (tx) => {
        const claimed = await store.claimDirty(tx, REFRESH_BATCH);
        const pairs = await store.usablePairs(tx, claimed, this.k, STORED_NEIGHBOURS);
        await store.replaceNeighbours(
          tx,
          claimed,
          topNeighbours(
            pairs.map((p) => ({
              seedId: p.seed_id,
              candidateId: p.candidate_id,
              artistId: p.artist_id,
              co: p.co,
              seedListeners: p.seed_listeners,
              candidateListeners: p.candidate_listeners,
            })),
            this.k,
          ),
        );
        return claimed;
      });
      done.push(...songs);
      if (songs.length < REFRESH_BATCH) break;
    }
    return done;
  }

  /**
   * A page of an artist's radio: the artist's songs and their neighbours (related artists), then
   * popular songs of the artist's genres, then trending; never a song this session already served.
   */
  async artistRadio(principal: Principal | null | undefined, artistId: string, first: number, sessionId: string | null): Promise<RadioPageModel> {
    const { userId } = requireAuth(principal);
    return this.db.useCase(async (tx) => {
      let served: string[] = [];
      let id = sessionId;
      if (id) {
        const session = await store.lockRadioSession(tx, id);
        if (!session || session.user_id !== userId || session.artist_id !== artistId) throw badInput('after is not a cursor of this radio', 'after');
        served = session.served;
      } else {
        id = randomUUID();
        await store.createRadioSession(tx, id, userId, artistId);
      }
      const own = await store.artistSongs(tx, artistId, served, RADIO_POOL);
      const found = await store.neighbours(
        tx,
        own.slice(0, HISTORY_SEEDS).map((s) => s.song_id),
        NEIGHBOURS_PER_SEED,
      );
      const servedSet = new Set(served);
      const related = rankNeighbours(
        found.map((n) => ({ seedId: n.seed_id, seedTitle: '', candidateId: n.candidate_id, artistId: n.artist_id, co: n.co, similarity: n.similarity })),
        servedSet,
        this.k,
      );
      // Interleave: the artist's songs lead, related ones between them (diversify spaces the artist).
      let pool: Ranked[] = interleave(
        asRanked(own, () => ''),
        related,
      );
      if (pool.length < first * 3) {
        const genres = await store.artistGenres(tx, artistId);
        pool = withFallback(
          pool,
          asRanked(await store.popularInGenres(tx, genres, RADIO_POOL), () => ''),
          servedSet,
        );
      }
      if (pool.length < first * 3)
        pool = withFallback(
          pool,
          asRanked(await this.trendingRows(tx, this.now(), RADIO_POOL), () => ''),
          servedSet,
        );
      const page = radioPage(pool, servedSet, first + 1);
      const songIds = page.slice(0, first).map((p) => p.songId);
      if (songIds.length > 0) await store.addServed(tx, id, songIds);
      return { sessionId: id, songIds, hasNextPage: page.length > first };
    });
  }

  /** popularInGenres from one shared list per genre, merged: the same songs in the same order. */
  private async popularInGenres(db: Session, genres: readonly string[], limit: number): Promise<store.SongRow[]> {
    const lists = await Promise.all(genres.map((g) => this.sharedList(`genre:${g.toLowerCase()}:${limit}`, () => store.popularInGenres(db, [g], limit))));
    const seen = new Set<string>();
    return lists
      .flat()
      .sort(byPopularity)
      .filter((r) => !seen.has(r.song_id) && (seen.add(r.song_id), true))
      .slice(0, limit);
  }

  private trendingRows(db: Session, now: Date, limit: number) {
    return this.sharedList(`trending:${limit}`, () => store.trending(db, new Date(now.getTime() - TRENDING_DAYS * 86_400_000), limit));
  }

  /**
   * A global list shared by every caller: loaded on first use, then served from memory; once older
   * than SHARED_LIST_TTL_MS it is reloaded in the background while callers still get the previous
   * one (no request waits for a reload).
   */
  private sharedList(key: string, load: () => Promise<store.SongRow[]>): Promise<store.SongRow[]> {
    const at = Date.now();
    const cached = this.shared.get(key);
    if (cached) {
      if (cached.until <= at && !cached.reloading) {
        cached.reloading = true;
        load().then(
          (rows) => this.shared.set(key, { until: Date.now() + SHARED_LIST_TTL_MS, rows: Promise.resolve(rows), reloading: false }),
          () => (cached.reloading = false),
        );
      }
      return cached.rows;
    }
    // Bounded: the oldest list goes first.
    if (this.shared.size >= SHARED_LISTS) this.shared.delete(this.shared.keys().next().value!);
    const rows = load();
    this.shared.set(key, { until: at + SHARED_LIST_TTL_MS, rows, reloading: false });
    rows.catch(() => this.shared.delete(key));
    return rows;
  }
}

/**
 * The neighbour table's batches beside requests: every `intervalMs`, the songs marked since the last
 * pass (one pass at a time; a failed pass is logged and retried at the next tick, the marks stay).
 */
export function startNeighbourRefresh(service: DiscoveryService, intervalMs: number, log: Logger): PeriodicTask {
  return startPeriodic(
    async () => {
      const songs = await service.refreshNeighbours();
      if (songs.length > 0) log.debug({ songs: songs.length }, 'neighbour rows recomputed');
    },
    { intervalMs, log, failureMessage: 'neighbour rows recomputation failed' },
  );
}

function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}
