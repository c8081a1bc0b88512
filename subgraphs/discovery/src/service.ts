import { randomUUID } from 'node:crypto';
import { badInput, requireAuth, type Persistence, type Principal, type Session } from '@vibestream/platform';
import { EXCLUDE_RECENT_DAYS, HISTORY_SEEDS, diversify, radioPage, rankCandidates, withFallback, type Ranked } from './domain/ranking.ts';
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

/** discovery's use cases: reads of the precomputed tables; the only write is a radio session's served set. */
export class DiscoveryService {
  private readonly db: Persistence;
  private readonly k: number;
  private readonly now: () => Date;
  /** Global lists shared by every caller, kept briefly per process: cold start reads them, not the tables. */
  private readonly shared = new Map<string, { until: number; rows: Promise<store.SongRow[]> }>();

  constructor(deps: { db: Persistence; minPairListeners: number; now?: () => Date }) {
    this.db = deps.db;
    this.k = deps.minPairListeners;
    this.now = deps.now ?? (() => new Date());
  }

  /** Songs for the caller: neighbours of their recent history, then their genres' popular songs, then trending. */
  async recommendedSongs(principal: Principal | null | undefined, first: number): Promise<RecommendationModel[]> {
    const { userId } = requireAuth(principal);
    if (first === 0) return [];
    const db = this.db.reader();
    const now = this.now();
    const [history, recent, known] = await Promise.all([
      store.recentHistory(db, userId, HISTORY_SEEDS),
      store.completedSince(db, userId, new Date(now.getTime() - EXCLUDE_RECENT_DAYS * 86_400_000)),
      store.completedSince(db, userId, new Date(0), KNOWN_SONGS),
    ]);
    const excluded = new Set(recent);
    const pairs = await store.neighbours(
      db,
      history.map((h) => h.song_id),
      this.k,
      NEIGHBOURS_PER_SEED,
    );
    const ranked = rankCandidates(
      pairs.map((p) => ({
        seedId: p.seed_id,
        seedTitle: p.seed_title,
        candidateId: p.candidate_id,
        artistId: p.artist_id,
        co: p.co,
        seedListeners: p.seed_listeners,
        candidateListeners: p.candidate_listeners,
      })),
      excluded,
      this.k,
      new Set(known),
    );
    let candidates = ranked;
    // Cold start and fill: the genres of the caller's history, then trending.
    const want = first * 2;
    if (candidates.length < want) {
      const genres = await store.topGenres(db, userId, 3);
      const popular = await this.sharedList(`genres:${genres.join('\u0000').toLowerCase()}:${want}`, () => store.popularInGenres(db, genres, want));
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
    const db = this.db.reader();
    const pairs = await store.neighbours(db, [songId], this.k, Math.max(first, NEIGHBOURS_PER_SEED));
    const ranked = rankCandidates(
      pairs.map((p) => ({
        seedId: p.seed_id,
        seedTitle: p.seed_title,
        candidateId: p.candidate_id,
        artistId: p.artist_id,
        co: p.co,
        seedListeners: p.seed_listeners,
        candidateListeners: p.candidate_listeners,
      })),
      new Set([songId]),
      this.k,
    );
    return ranked.slice(0, first).map((r) => r.songId);
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
      const pairs = await store.neighbours(
        tx,
        own.slice(0, HISTORY_SEEDS).map((s) => s.song_id),
        this.k,
        NEIGHBOURS_PER_SEED,
      );
      const servedSet = new Set(served);
      const related = rankCandidates(
        pairs.map((p) => ({
          seedId: p.seed_id,
          seedTitle: p.seed_title,
          candidateId: p.candidate_id,
          artistId: p.artist_id,
          co: p.co,
          seedListeners: p.seed_listeners,
          candidateListeners: p.candidate_listeners,
        })),
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

  private trendingRows(db: Session, now: Date, limit: number) {
    return this.sharedList(`trending:${limit}`, () => store.trending(db, new Date(now.getTime() - TRENDING_DAYS * 86_400_000), limit));
  }

  private sharedList(key: string, load: () => Promise<store.SongRow[]>): Promise<store.SongRow[]> {
    const at = Date.now();
    const cached = this.shared.get(key);
    if (cached && cached.until > at) return cached.rows;
    if (this.shared.size > 1000) this.shared.clear();
    const rows = load();
    this.shared.set(key, { until: at + SHARED_LIST_TTL_MS, rows });
    rows.catch(() => this.shared.delete(key));
    return rows;
  }
}

function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}
