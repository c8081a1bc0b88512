// loyalty's pure rules: tiers, sale gates, and which admission of a ticket wins.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideAdmission, winnerOf } from '../src/domain/admissions.ts';
import { saleGate, validateEventInput } from '../src/domain/sales.ts';
import { fanScore, fanTierLevels, tierOf, tierRank, TIER_THRESHOLDS } from '../src/domain/tiers.ts';

const at = (minutes: number) => new Date(Date.UTC(2026, 11, 7, 12, minutes));

describe('fan tiers', () => {
  it('explain themselves: score, level and where the next level starts', () => {
    expect(tierOf(fanScore({ listens: 0, shares: 0, campaignNfts: 0 }))).toEqual({ level: 'NONE', score: 0, nextLevelAt: 10 });
    expect(tierOf(fanScore({ listens: 5, shares: 1, campaignNfts: 0 }))).toEqual({ level: 'BRONZE', score: 10, nextLevelAt: 100 });
    expect(tierOf(fanScore({ listens: 40, shares: 10, campaignNfts: 3 }))).toEqual({ level: 'SILVER', score: 150, nextLevelAt: 500 });
    expect(tierOf(2_000)).toEqual({ level: 'PLATINUM', score: 2_000, nextLevelAt: null });
  });

  it('property: a higher score never means a lower level, and nextLevelAt is above the score', () => {
    fc.assert(
      fc.property(fc.nat(5_000), fc.nat(5_000), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(tierRank(tierOf(lo).level)).toBeLessThanOrEqual(tierRank(tierOf(hi).level));
        const t = tierOf(lo);
        if (t.nextLevelAt !== null) expect(t.nextLevelAt).toBeGreaterThan(lo);
        if (t.level !== 'NONE') expect(lo).toBeGreaterThanOrEqual(TIER_THRESHOLDS[t.level]);
      }),
    );
    expect(fanTierLevels).toHaveLength(5);
  });
});

describe('sale gates', () => {
  const type = { saleStartsAt: at(30), presaleStartsAt: at(10), presaleMinTier: 'SILVER' as const, presaleForShareholders: false };
  it('open the presale at the tier and above, refuse below it, and open to all at the sale', () => {
    expect(saleGate(type, at(5), { level: 'PLATINUM', shares: 0 })).toBe('NOT_OPEN');
    expect(saleGate(type, at(15), { level: 'BRONZE', shares: 0 })).toBe('TIER_TOO_LOW');
    expect(saleGate(type, at(15), { level: 'SILVER', shares: 0 })).toBe('PRESALE');
    expect(saleGate(type, at(15), { level: 'GOLD', shares: 0 })).toBe('PRESALE');
    expect(saleGate(type, at(30), { level: 'NONE', shares: 0 })).toBe('OPEN');
  });
  it('open a shareholders presale to holders of the artist’s shares', () => {
    const holders = { ...type, presaleMinTier: null, presaleForShareholders: true };
    expect(saleGate(holders, at(15), { level: 'PLATINUM', shares: 0 })).toBe('TIER_TOO_LOW');
    expect(saleGate(holders, at(15), { level: 'NONE', shares: 1 })).toBe('PRESALE');
  });
  it('refuse bad event input, naming the field', () => {
    const good = { title: 'Live', venue: 'Hall', startsAt: at(600), ticketTypes: [{ name: 'GA', priceCents: 100, capacity: 10, saleStartsAt: at(60) }] };
    expect(validateEventInput(good, at(0)).ticketTypes[0]).toMatchObject({ presaleMinTier: null, presaleForShareholders: false });
    const field = (input: typeof good) => {
      try {
        validateEventInput(input, at(0));
        return null;
      } catch (e) {
        return (e as { extensions: { field: string } }).extensions.field;
      }
    };
    expect(field({ ...good, title: ' ' })).toBe('input.title');
    expect(field({ ...good, startsAt: at(-1) })).toBe('input.startsAt');
    expect(field({ ...good, ticketTypes: [{ ...good.ticketTypes[0]!, capacity: 0 }] })).toBe('input.ticketTypes[0].capacity');
    expect(field({ ...good, ticketTypes: [{ ...good.ticketTypes[0]!, priceCents: -1 }] })).toBe('input.ticketTypes[0].priceCents');
  });
});

describe('admissions', () => {
  it('the first by time wins; the same device again changes nothing', () => {
    const a = { deviceId: 'door-a', admittedAt: at(1) };
    const b = { deviceId: 'door-b', admittedAt: at(2) };
    expect(decideAdmission(null, b)).toBe('ADMIT');
    expect(decideAdmission(b, a)).toBe('SUPERSEDE');
    expect(decideAdmission(a, b)).toBe('CONFLICT');
    expect(decideAdmission(a, { ...a })).toBe('SAME');
  });

  it('property: whatever order doors sync in, the earliest admission wins', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(100_000), { minLength: 1, maxLength: 8 }), fc.nat(), (minutes, seed) => {
        const admissions = minutes.map((m, i) => ({ deviceId: `door-${i}`, admittedAt: new Date(m * 1000) }));
        const shuffled = [...admissions].sort((x, y) => ((x.admittedAt.getTime() * 7919 + seed) % 101) - ((y.admittedAt.getTime() * 7919 + seed) % 101));
        const earliest = Math.min(...minutes) * 1000;
        expect(winnerOf(shuffled)!.admittedAt.getTime()).toBe(earliest);
      }),
    );
  });
});
