// discovery's ranking rules, pure: the k threshold, the artist-diversity rule, exclusions, reasons, radio.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DIVERSITY_WINDOW,
  MAX_PER_ARTIST,
  diverse,
  diversify,
  pairUsable,
  radioPage,
  rankCandidates,
  rankNeighbours,
  recentlyCompleted,
  similarity,
  topNeighbours,
  withFallback,
  type Pair,
} from '../src/domain/ranking.ts';

const song = (n: number) => `s${n}`;
const artist = (n: number) => `a${n}`;

const pairArb = fc.record({
  seedId: fc.nat(30).map(song),
  seedTitle: fc.constantFrom('Night Drive', 'Blue', 'Echoes'),
  candidateId: fc.nat(60).map(song),
  artistId: fc.nat(8).map(artist),
  co: fc.nat(40),
  seedListeners: fc.integer({ min: 1, max: 500 }),
  candidateListeners: fc.integer({ min: 1, max: 500 }),
});

describe('the k threshold', () => {
  it('property: a pair made by fewer than k listeners (k >= 5) never scores, never ranks, never is a reason', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 80 }), fc.integer({ min: 0, max: 20 }), (pairs, k) => {
        const effective = Math.max(5, k);
        const ranked = rankCandidates(pairs, new Set(), k);
        for (const r of ranked) {
          const usable = pairs.filter((p) => p.candidateId === r.songId && p.candidateId !== p.seedId && p.co >= effective);
          expect(usable.length).toBeGreaterThan(0);
          expect(usable.map((p) => `because you listened to ${p.seedTitle}`)).toContain(r.reason);
        }
        for (const p of pairs) if (p.co < effective) expect(similarity(p.co, p.seedListeners, p.candidateListeners, k)).toBe(0);
        expect(pairUsable(4, 0)).toBe(false);
      }),
    );
  });

  it('property: the neighbour table gets no pair under k, never the song itself, at most the limit per song, the strongest first', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 120 }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 10 }), (raw, k, limit) => {
        // One pair per (seed, candidate), as the pair table holds.
        const pairs = [...new Map(raw.map((p) => [`${p.seedId}|${p.candidateId}`, p])).values()];
        const rows = topNeighbours(pairs, k, limit);
        const effective = Math.max(5, k);
        const bySeed = new Map<string, typeof rows>();
        for (const r of rows) {
          expect(r.co).toBeGreaterThanOrEqual(effective);
          expect(r.neighbourId).not.toBe(r.songId);
          expect(r.score).toBeGreaterThan(0);
          bySeed.set(r.songId, [...(bySeed.get(r.songId) ?? []), r]);
        }
        for (const [seed, list] of bySeed) {
          expect(list.map((r) => r.rank)).toEqual(list.map((_, i) => i + 1));
          const usable = pairs.filter((p) => p.seedId === seed && p.candidateId !== seed && p.co >= effective);
          expect(list).toHaveLength(Math.min(limit, usable.length));
          for (let i = 1; i < list.length; i++) expect(list[i]!.co).toBeLessThanOrEqual(list[i - 1]!.co);
        }
        // A seed with a usable pair always gets rows.
        for (const p of pairs) if (p.co >= effective && p.candidateId !== p.seedId) expect(bySeed.has(p.seedId)).toBe(true);
      }),
    );
  });

  it('ranks precomputed neighbours exactly as their pairs', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 80 }), fc.integer({ min: 0, max: 20 }), (pairs, k) => {
        const known = new Set(pairs.slice(0, 5).map((p) => p.candidateId));
        const neighbours = pairs.map((p) => ({ ...p, similarity: similarity(p.co, p.seedListeners, p.candidateListeners, k) }));
        expect(rankNeighbours(neighbours, new Set(), k, known)).toEqual(rankCandidates(pairs, new Set(), k, known));
      }),
    );
  });

  it('damps popularity: of two candidates with the same co-listening, the less popular scores higher', () => {
    expect(similarity(10, 100, 50, 5)).toBeGreaterThan(similarity(10, 100, 500, 5));
    expect(similarity(10, 100, 50, 5)).toBeLessThanOrEqual(1);
  });
});

describe('the artist-diversity rule', () => {
  it('property: every window of 10 consecutive results holds at most 3 songs of one artist, with no duplicates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ songId: fc.nat(200).map(song), artistId: fc.nat(6).map(artist) }), { maxLength: 150 }),
        fc.integer({ min: 0, max: 100 }),
        (ranked, limit) => {
          const out = diversify(ranked, limit);
          expect(out.length).toBeLessThanOrEqual(limit);
          expect(diverse(out, MAX_PER_ARTIST, DIVERSITY_WINDOW)).toBe(true);
          expect(new Set(out.map((o) => o.songId)).size).toBe(out.length);
        },
      ),
    );
  });

  it('keeps the ranking where the rule allows, and defers an artist past its cap', () => {
    const ranked = [1, 2, 3, 4, 5].map((n) => ({ songId: song(n), artistId: 'a' })).concat([{ songId: song(9), artistId: 'b' }]);
    expect(diversify(ranked, 10).map((r) => r.songId)).toEqual(['s1', 's2', 's3', 's9']);
  });
});

describe('exclusions and fallbacks', () => {
  it('property: an excluded song (completed in the last 30 days) never ranks nor comes from a fallback', () => {
    fc.assert(
      fc.property(fc.array(pairArb, { maxLength: 60 }), fc.uniqueArray(fc.nat(60).map(song), { maxLength: 20 }), (pairs, excludedList) => {
        const excluded = new Set(excludedList);
        const ranked = rankCandidates(pairs, excluded, 5);
        const fallback = excludedList.concat(['s999']).map((songId) => ({ songId, artistId: 'x', score: 1, reason: 'popular in jazz' }));
        for (const r of withFallback(ranked, fallback, excluded)) expect(excluded.has(r.songId)).toBe(false);
      }),
    );
  });

  it('counts 30 days back from now', () => {
    const now = new Date('2026-12-07T12:00:00Z');
    expect(recentlyCompleted(new Date('2026-11-08T12:00:01Z'), now)).toBe(true);
    expect(recentlyCompleted(new Date('2026-11-07T11:59:59Z'), now)).toBe(false);
  });

  it('names the seed that contributed most as the reason', () => {
    const pairs: Pair[] = [
      { seedId: 'x', seedTitle: 'Weak', candidateId: 'c', artistId: 'a', co: 5, seedListeners: 100, candidateListeners: 100 },
      { seedId: 'y', seedTitle: 'Strong', candidateId: 'c', artistId: 'a', co: 50, seedListeners: 100, candidateListeners: 100 },
    ];
    expect(rankCandidates(pairs, new Set(), 5)).toEqual([expect.objectContaining({ songId: 'c', reason: 'because you listened to Strong' })]);
  });
});

describe('songs the caller knew', () => {
  it('rank behind new ones of the same similarity', () => {
    const pair = (candidateId: string): Pair => ({
      seedId: 'x',
      seedTitle: 'Seed',
      candidateId,
      artistId: 'a',
      co: 10,
      seedListeners: 50,
      candidateListeners: 50,
    });
    expect(rankCandidates([pair('old'), pair('new')], new Set(), 5, new Set(['old'])).map((r) => r.songId)).toEqual(['new', 'old']);
  });
});

describe('radio', () => {
  it('property: pages of one session never repeat a song, each page diverse', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ songId: fc.nat(100).map(song), artistId: fc.nat(5).map(artist) }), { maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 12 }),
        (candidates, pages) => {
          const served = new Set<string>();
          for (const first of pages) {
            const page = radioPage(candidates, served, first);
            expect(diverse(page)).toBe(true);
            for (const p of page) {
              expect(served.has(p.songId)).toBe(false);
              served.add(p.songId);
            }
          }
        },
      ),
    );
  });
});
