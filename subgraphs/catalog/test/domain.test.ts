import { describe, expect, it } from 'vitest';
import { canonicalContentType, parseRange, sniffedMatches } from '../src/domain/media.ts';
import { checkUpload, FREE_LIMITS, limitsFromEntitlements } from '../src/domain/plans.ts';
import { checkMediaSignature, signMedia } from '../src/domain/signed-url.ts';
import { canSeeSong, checkIsrc, checkText, normalizeSearchQuery } from '../src/domain/songs.ts';

describe('songs', () => {
  it('validates text and ISRC', () => {
    expect(checkText('title', '  Hello   World ', 20)).toEqual({ ok: true, value: 'Hello World' });
    expect(checkText('title', '   ', 10)).toMatchObject({ ok: false, field: 'title' });
    expect(checkText('title', 'x'.repeat(11), 10)).toMatchObject({ ok: false });
    expect(checkIsrc('us-rc1-76-07839')).toEqual({ ok: true, value: 'USRC17607839' });
    expect(checkIsrc(null)).toEqual({ ok: true, value: null });
    expect(checkIsrc('USRC1760783')).toMatchObject({ ok: false, field: 'isrc' });
    expect(checkIsrc('1SRC17607839')).toMatchObject({ ok: false });
  });

  it('shows drafts only to their artist', () => {
    expect(canSeeSong({ status: 'PUBLISHED', artistUserId: 'a' }, null)).toBe(true);
    expect(canSeeSong({ status: 'DRAFT', artistUserId: 'a' }, 'a')).toBe(true);
    expect(canSeeSong({ status: 'DRAFT', artistUserId: 'a' }, 'b')).toBe(false);
    expect(canSeeSong({ status: 'DRAFT', artistUserId: 'a' }, null)).toBe(false);
  });

  it('normalizes search queries', () => {
    expect(normalizeSearchQuery('  Moon   LIGHT ')).toEqual({ ok: true, value: 'moon light' });
    expect(normalizeSearchQuery(' ')).toMatchObject({ ok: false });
    expect(normalizeSearchQuery('x'.repeat(201))).toMatchObject({ ok: false });
  });
});

describe('media', () => {
  it('accepts the contract content types and their aliases only', () => {
    expect(canonicalContentType('audio/mpeg')).toBe('audio/mpeg');
    expect(canonicalContentType('Audio/X-WAV; charset=binary')).toBe('audio/wav');
    expect(canonicalContentType('audio/x-m4a')).toBe('audio/mp4');
    expect(canonicalContentType('video/mp4')).toBeNull();
    expect(canonicalContentType('text/plain')).toBeNull();
    expect(sniffedMatches('audio/wav', 'audio/wav')).toBe(true);
    expect(sniffedMatches('audio/wav', 'audio/mpeg')).toBe(false);
    expect(sniffedMatches('audio/flac', 'audio/x-flac')).toBe(true);
    expect(sniffedMatches('audio/mpeg', undefined)).toBe(false);
  });

  it('parses byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
  });
});

describe('plans', () => {
  const base = { limits: FREE_LIMITS, uploadsThisMonth: 0, storageUsedBytes: 0 };
  it('enforces monthly uploads, storage and file size', () => {
    expect(checkUpload({ ...base, byteSize: 1000 })).toEqual({ ok: true });
    expect(checkUpload({ ...base, byteSize: 1000, uploadsThisMonth: 3 })).toMatchObject({ ok: false, reason: 'monthly-limit' });
    expect(checkUpload({ ...base, byteSize: 1000, storageUsedBytes: FREE_LIMITS.storageBytes! - 999 })).toMatchObject({ ok: false, reason: 'storage-limit' });
    expect(checkUpload({ ...base, byteSize: FREE_LIMITS.storageBytes! + 1 })).toMatchObject({ ok: false, reason: 'too-large' });
    const unlimited = { planId: 'STUDIO', uploadsMonthly: null, storageBytes: null };
    expect(checkUpload({ limits: unlimited, byteSize: 10, uploadsThisMonth: 10_000, storageUsedBytes: 1e15 })).toEqual({ ok: true });
  });

  it('maps entitlements to limits', () => {
    expect(
      limitsFromEntitlements('CREATOR', [
        { key: 'uploads.monthly', limit: 50 },
        { key: 'storage.bytes', limit: 10 * 1024 ** 3 },
      ]),
    ).toEqual({
      planId: 'CREATOR',
      uploadsMonthly: 50,
      storageBytes: 10 * 1024 ** 3,
    });
    expect(limitsFromEntitlements('STUDIO', [{ key: 'storage.bytes', limit: null }]).storageBytes).toBeNull();
  });
});

describe('signed media URLs', () => {
  it('verify purpose, id, expiry and signature', () => {
    const exp = 2_000_000_000;
    const sig = signMedia('secret', 'stream', 'song-1', exp);
    expect(checkMediaSignature('secret', 'stream', 'song-1', String(exp), sig, 1_000)).toBe('valid');
    expect(checkMediaSignature('secret', 'stream', 'song-1', String(exp), sig, exp)).toBe('expired');
    expect(checkMediaSignature('secret', 'upload', 'song-1', String(exp), sig, 1_000)).toBe('invalid');
    expect(checkMediaSignature('secret', 'stream', 'song-2', String(exp), sig, 1_000)).toBe('invalid');
    expect(checkMediaSignature('other', 'stream', 'song-1', String(exp), sig, 1_000)).toBe('invalid');
    expect(checkMediaSignature('secret', 'stream', 'song-1', String(exp + 1), sig, 1_000)).toBe('invalid');
    expect(checkMediaSignature('secret', 'stream', 'song-1', null, sig, 1_000)).toBe('invalid');
  });
});
