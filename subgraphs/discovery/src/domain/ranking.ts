// discovery's ranking rules, pure: no I/O, no clock. The store supplies counts; these decide.

/** The fewest distinct listeners a pair needs before it is used (the k of k-anonymity). */
export const MIN_PAIR_LISTENERS = 5;
/** At most this many songs of one artist ... */
export const MAX_PER_ARTIST = 3;
/** ... in any this many consecutive results. */
export const DIVERSITY_WINDOW = 10;
/** Songs completed within this many days are not recommended again. */
export const EXCLUDE_RECENT_DAYS = 30;
/** How strongly a candidate's own popularity damps its similarity (0: plain cosine). */
export const POPULARITY_DAMPING = 0.2;
/** The caller's most recent distinct songs that seed recommendations. */
export const HISTORY_SEEDS = 30;
/** How many earlier distinct songs of a listener a new song is paired with (bounds each event's work). */
export const PAIRING_WINDOW = 50;
/** How many neighbours of each song the neighbour table keeps (the strongest usable pairs only). */
export const STORED_NEIGHBOURS = 50;

/** Whether a pair made by `listeners` distinct listeners may be used at all. */
export function pairUsable(listeners: number, k: number): boolean {
  return Number.isFinite(listeners) && listeners >= Math.max(k, MIN_PAIR_LISTENERS);
}

/**
 * Item-item similarity from co-listening: cosine on implicit (binary) feedback, co / sqrt(na nb),
 * damped by the candidate's popularity (nb^-damping), and 0 for a pair fewer than k listeners made.
 */
export function similarity(co: number, seedListeners: number, candidateListeners: number, k: number, damping = POPULARITY_DAMPING): number {
  if (!pairUsable(co, k) || seedListeners <= 0 || candidateListeners <= 0) return 0;
  return co / Math.sqrt(seedListeners * candidateListeners) / Math.pow(candidateListeners, damping);
}

export interface Pair {
  seedId: string;
  seedTitle: string;
  candidateId: string;
  artistId: string;
  co: number;
  seedListeners: number;
  candidateListeners: number;
}

export interface Ranked {
  songId: string;
  artistId: string;
  score: number;
  reason: string;
}

/** A song counts as recently completed when completed after `now - 30 days`. */
export function recentlyCompleted(lastCompletedAt: Date, now: Date): boolean {
  return now.getTime() - lastCompletedAt.getTime() < EXCLUDE_RECENT_DAYS * 86_400_000;
}

/** A song the caller completed before (more than 30 days ago) scores this fraction: new songs come first. */
export const KNOWN_FACTOR = 0.25;

/** A seed's precomputed neighbour: a usable pair with its similarity (the neighbour table's row). */
export interface Neighbour {
  seedId: string;
  seedTitle: string;
  candidateId: string;
  artistId: string;
  co: number;
  similarity: number;
}

/**
 * Candidates from the caller's seeds: each candidate's score is the sum of its similarities to the
 * seeds (pairs under k contribute nothing and are never a reason), its reason the seed that gave the
 * most; a `known` song (completed before, not recently) scores KNOWN_FACTOR of that. Excluded songs (recently completed, the seeds themselves) never appear.
 */
export function rankCandidates(pairs: readonly Pair[], excluded: ReadonlySet<string>, k: number, known: ReadonlySet<string> = new Set()): Ranked[] {
  return rankNeighbours(
    pairs.map((p) => ({ ...p, similarity: similarity(p.co, p.seedListeners, p.candidateListeners, k) })),
    excluded,
    k,
    known,
  );
}

/** rankCandidates on precomputed similarities (the neighbour table's rows): the same rules. */
export function rankNeighbours(neighbours: readonly Neighbour[], excluded: ReadonlySet<string>, k: number, known: ReadonlySet<string> = new Set()): Ranked[] {
  const byCandidate = new Map<string, { artistId: string; score: number; best: number; reason: string }>();
  for (const p of neighbours) {
    if (excluded.has(p.candidateId) || p.candidateId === p.seedId || !pairUsable(p.co, k)) continue;
    const s = p.similarity * (known.has(p.candidateId) ? KNOWN_FACTOR : 1);
    if (!(s > 0)) continue;
    const entry = byCandidate.get(p.candidateId);
    if (!entry) byCandidate.set(p.candidateId, { artistId: p.artistId, score: s, best: s, reason: `because you listened to ${p.seedTitle}` });
    else {
      entry.score += s;
      if (s > entry.best) Object.assign(entry, { best: s, reason: `because you listened to ${p.seedTitle}` });
    }
  }
  return [...byCandidate.entries()]
    .map(([songId, e]) => ({ songId, artistId: e.artistId, score: e.score, reason: e.reason }))
    .sort((a, b) => b.score - a.score || (a.songId < b.songId ? -1 : 1));
}

/** A row of the neighbour table: `neighbourId` is `songId`'s `rank`-th strongest neighbour. */
export interface NeighbourRow {
  songId: string;
  rank: number;
  neighbourId: string;
  artistId: string;
  co: number;
  score: number;
}

/**
 * Each seed's neighbour rows from its pairs: usable pairs only (at least k listeners), never the
 * song itself; the `limit` strongest, ranked from 1 by distinct co-listeners (as the seeds' pairs
 * were always read), then similarity, then id (so a recomputation is stable). Each row carries its
 * similarity: readers score with it.
 */
export function topNeighbours(pairs: readonly Omit<Pair, 'seedTitle'>[], k: number, limit = STORED_NEIGHBOURS): NeighbourRow[] {
  const bySeed = new Map<string, { neighbourId: string; artistId: string; co: number; score: number }[]>();
  for (const p of pairs) {
    if (p.candidateId === p.seedId) continue;
    const score = similarity(p.co, p.seedListeners, p.candidateListeners, k);
    if (!(score > 0)) continue;
    const list = bySeed.get(p.seedId) ?? [];
    if (list.length === 0) bySeed.set(p.seedId, list);
    list.push({ neighbourId: p.candidateId, artistId: p.artistId, co: p.co, score });
  }
  const out: NeighbourRow[] = [];
  for (const [songId, list] of bySeed) {
    list.sort((a, b) => b.co - a.co || b.score - a.score || (a.neighbourId < b.neighbourId ? -1 : 1));
    list.slice(0, limit).forEach((n, i) => out.push({ songId, rank: i + 1, ...n }));
  }
  return out;
}

/**
 * Reorders a ranked list so that no window of `window` consecutive results holds more than `max`
 * songs of one artist: greedily the best remaining song whose artist is under the cap in the last
 * `window - 1` picks. Songs that cannot be placed (one artist left) are dropped; duplicates too.
 */
export function diversify<T extends { songId: string; artistId: string }>(
  ranked: readonly T[],
  limit: number,
  max = MAX_PER_ARTIST,
  window = DIVERSITY_WINDOW,
): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  const pending = ranked.filter((r) => (seen.has(r.songId) ? false : (seen.add(r.songId), true)));
  while (out.length < limit && pending.length > 0) {
    const recent = out.slice(-(window - 1));
    const index = pending.findIndex((r) => recent.filter((o) => o.artistId === r.artistId).length < max);
    if (index < 0) break;
    out.push(pending.splice(index, 1)[0]!);
  }
  return out;
}

/** Whether every window of `window` consecutive items holds at most `max` of one artist. */
export function diverse(items: readonly { artistId: string }[], max = MAX_PER_ARTIST, window = DIVERSITY_WINDOW): boolean {
  for (let i = 0; i < items.length; i++) {
    const counts = new Map<string, number>();
    for (const item of items.slice(i, i + window)) {
      const n = (counts.get(item.artistId) ?? 0) + 1;
      if (n > max) return false;
      counts.set(item.artistId, n);
    }
  }
  return true;
}

/** Appends fallback songs (cold start: the caller's genres, then trending) after the ranked ones, once each. */
export function withFallback(ranked: readonly Ranked[], fallback: readonly Ranked[], excluded: ReadonlySet<string>): Ranked[] {
  const seen = new Set(ranked.map((r) => r.songId));
  return [...ranked, ...fallback.filter((f) => !excluded.has(f.songId) && !seen.has(f.songId) && (seen.add(f.songId), true))];
}

/** The next page of a radio session: candidates in order, never one already served, at most `first`. */
export function radioPage<T extends { songId: string; artistId: string }>(candidates: readonly T[], served: ReadonlySet<string>, first: number): T[] {
  return diversify(
    candidates.filter((c) => !served.has(c.songId)),
    first,
  );
}
