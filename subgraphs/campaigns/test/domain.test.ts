import { describe, expect, it } from 'vitest';
import {
  activationRefusal,
  analytics,
  campaignInputProblems,
  claimRefusal,
  effectiveStatus,
  joinRefusal,
  nextEdition,
  normaliseReferralCode,
  referralCodeFrom,
  referralRefusal,
  tokenMetadata,
  type ClaimState,
} from '../src/domain/campaign.ts';

const now = new Date('2026-11-23T12:00:00Z');
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs);
const HOUR = 3_600_000;

describe('campaign lifecycle', () => {
  it('an ACTIVE campaign reads as ENDED from endsAt on; other statuses are as stored', () => {
    expect(effectiveStatus('ACTIVE', at(1), now)).toBe('ACTIVE');
    expect(effectiveStatus('ACTIVE', now, now)).toBe('ENDED');
    expect(effectiveStatus('ACTIVE', at(-1), now)).toBe('ENDED');
    expect(effectiveStatus('DRAFT', at(-1), now)).toBe('DRAFT');
    expect(effectiveStatus('ENDED', at(HOUR), now)).toBe('ENDED');
  });

  it('only the artist activates, only a DRAFT, only before endsAt', () => {
    expect(activationRefusal({ status: 'DRAFT', endsAt: at(HOUR), isArtist: true }, now)).toBeNull();
    expect(activationRefusal({ status: 'DRAFT', endsAt: at(HOUR), isArtist: false }, now)?.code).toBe('FORBIDDEN');
    expect(activationRefusal({ status: 'ACTIVE', endsAt: at(HOUR), isArtist: true }, now)?.code).toBe('CONFLICT');
    expect(activationRefusal({ status: 'ENDED', endsAt: at(-HOUR), isArtist: true }, now)?.code).toBe('CONFLICT');
    expect(activationRefusal({ status: 'DRAFT', endsAt: at(-1), isArtist: true }, now)?.code).toBe('CONFLICT');
  });

  it('fans join ACTIVE campaigns that have started; the artist never joins their own', () => {
    expect(joinRefusal({ status: 'ACTIVE', startsAt: at(-1), isArtist: false }, now)).toBeNull();
    expect(joinRefusal({ status: 'ACTIVE', startsAt: at(HOUR), isArtist: false }, now)?.code).toBe('CONFLICT');
    expect(joinRefusal({ status: 'ENDED', startsAt: at(-HOUR), isArtist: false }, now)?.code).toBe('CONFLICT');
    expect(joinRefusal({ status: 'DRAFT', startsAt: at(-HOUR), isArtist: false }, now)?.code).toBe('CONFLICT');
    expect(joinRefusal({ status: 'ACTIVE', startsAt: at(-1), isArtist: true }, now)?.code).toBe('FORBIDDEN');
  });
});

describe('createCampaign input', () => {
  const valid = {
    name: 'Launch',
    startsAt: at(0),
    endsAt: at(HOUR),
    budgetCents: 10_000,
    nftDrop: { name: 'Launch Drop', symbol: 'LNCH', editionSize: 3, minListens: 2 },
  };

  it('accepts a valid input, with or without a drop', () => {
    expect(campaignInputProblems(valid, now)).toEqual([]);
    expect(campaignInputProblems({ ...valid, nftDrop: null }, now)).toEqual([]);
  });

  it('names the offending field', () => {
    const fields = (input: Parameters<typeof campaignInputProblems>[0]) => campaignInputProblems(input, now).map((p) => p.field);
    expect(fields({ ...valid, endsAt: valid.startsAt })).toEqual(['input.endsAt']);
    expect(fields({ ...valid, startsAt: at(-2 * HOUR), endsAt: at(-HOUR) })).toEqual(['input.endsAt']);
    expect(fields({ ...valid, nftDrop: { ...valid.nftDrop, editionSize: 0 } })).toEqual(['input.nftDrop.editionSize']);
    expect(fields({ ...valid, nftDrop: { ...valid.nftDrop, editionSize: 1.5 } })).toEqual(['input.nftDrop.editionSize']);
    expect(fields({ ...valid, nftDrop: { ...valid.nftDrop, minListens: -1 } })).toEqual(['input.nftDrop.minListens']);
    expect(fields({ ...valid, nftDrop: { ...valid.nftDrop, symbol: 'lower' } })).toEqual(['input.nftDrop.symbol']);
    expect(fields({ ...valid, nftDrop: { ...valid.nftDrop, name: '  ' } })).toEqual(['input.nftDrop.name']);
    expect(fields({ ...valid, budgetCents: -1 })).toEqual(['input.budgetCents']);
    expect(fields({ ...valid, name: ' ' })).toEqual(['input.name']);
    expect(fields({ ...valid, description: 'x'.repeat(2001) })).toEqual(['input.description']);
  });
});

describe('referrals', () => {
  it('codes are 8 unambiguous characters, compared case-insensitively', () => {
    const code = referralCodeFrom(new Uint8Array([0, 1, 2, 3, 30, 31, 254, 255]));
    expect(code).toMatch(/^[2-9A-HJKMNP-Z]{8}$/);
    expect(normaliseReferralCode(` ${code.toLowerCase()} `)).toBe(code);
  });

  it('refuses unknown codes, codes of another campaign and one’s own code', () => {
    const joiner = { userId: 'u1', campaignId: 'c1' };
    expect(referralRefusal({ userId: 'u2', campaignId: 'c1' }, joiner)).toBeNull();
    expect(referralRefusal(null, joiner)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'referralCode' });
    expect(referralRefusal({ userId: 'u2', campaignId: 'c2' }, joiner)).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(referralRefusal({ userId: 'u1', campaignId: 'c1' }, joiner)).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('claims', () => {
  const base: ClaimState = { status: 'ACTIVE', drop: { editionSize: 3, minListens: 2 }, participant: { listens: 2, claimed: false }, editionsClaimed: 0 };

  it('an eligible participant gets the next edition', () => {
    expect(claimRefusal(base)).toBeNull();
    expect(nextEdition(0, 3)).toBe(1);
    expect(nextEdition(2, 3)).toBe(3);
    expect(() => nextEdition(3, 3)).toThrow();
  });

  it('refuses in the documented order', () => {
    expect(claimRefusal({ ...base, drop: null })?.code).toBe('CONFLICT');
    expect(claimRefusal({ ...base, status: 'ENDED' })?.code).toBe('CONFLICT');
    expect(claimRefusal({ ...base, participant: null })?.code).toBe('FORBIDDEN');
    // A second claim is CONFLICT even when sold out or below minListens.
    expect(claimRefusal({ ...base, participant: { listens: 0, claimed: true }, editionsClaimed: 3 })?.message).toMatch(/already claimed/);
    // Below minListens is FORBIDDEN even when sold out.
    expect(claimRefusal({ ...base, participant: { listens: 1, claimed: false }, editionsClaimed: 3 })?.code).toBe('FORBIDDEN');
    expect(claimRefusal({ ...base, editionsClaimed: 3 })).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/sold out/) });
  });

  it('minListens 0 lets a participant claim at once', () => {
    expect(claimRefusal({ ...base, drop: { editionSize: 1, minListens: 0 }, participant: { listens: 0, claimed: false } })).toBeNull();
  });
});

describe('analytics', () => {
  it('computes conversion and cost per listen, with no division by zero', () => {
    expect(analytics({ participants: 4, referrals: 1, listens: 9, nftsMinted: 3, claimants: 3 }, 4500)).toEqual({
      participants: 4,
      referrals: 1,
      listens: 9,
      nftsMinted: 3,
      conversionRate: 0.75,
      costPerListenCents: 500,
    });
    expect(analytics({ participants: 0, referrals: 0, listens: 0, nftsMinted: 0, claimants: 0 }, 4500)).toMatchObject({
      conversionRate: 0,
      costPerListenCents: null,
    });
  });
});

describe('token metadata', () => {
  it('names the drop, the song and the edition', () => {
    const meta = tokenMetadata({ dropName: 'Launch Drop', campaignName: 'Launch', songTitle: 'Golden Hour', editionNumber: 2, editionSize: 3 });
    expect(meta).toMatchObject({ name: 'Launch Drop #2', song: 'Golden Hour', editionNumber: 2, editionSize: 3 });
    expect(meta.attributes).toContainEqual({ trait_type: 'Song', value: 'Golden Hour' });
  });
});
