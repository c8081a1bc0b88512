// The pure rules of streaming (src/domain/streaming.ts): the ladder, plan limits, waveforms,
// loudnorm's report, stream grants and the playlists served under them.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkGrant,
  grantQuery,
  masterPlaylist,
  parseLoudnormReport,
  peaksOf,
  renditionKey,
  renditionsFor,
  resampleWaveform,
  retryDelaySeconds,
  signedMediaPlaylist,
  streamLimitFromEntitlements,
  streamLimitKbps,
} from '../src/domain/streaming.ts';

const SECRET = 'streaming-domain-secret-0123456789abcdef';
const SONG = '7d7f2b7e-8f4c-4d1e-9a59-0c4c3f1d2a10';

describe('the ladder and plans', () => {
  it('makes no rung above the source, always the lowest, all of them for an unknown bitrate', () => {
    expect(renditionsFor(128)).toEqual([64, 128]);
    expect(renditionsFor(192)).toEqual([64, 128]);
    expect(renditionsFor(320)).toEqual([64, 128, 256, 320]);
    expect(renditionsFor(1411)).toEqual([64, 128, 256, 320]);
    expect(renditionsFor(48)).toEqual([64]);
    expect(renditionsFor(null)).toEqual([64, 128, 256, 320]);
  });

  it("reads the plan's stream limit: the entitlement, else the plan's default, FREE without a plan", () => {
    expect(streamLimitKbps(undefined)).toBe(128);
    expect(streamLimitKbps({ planId: 'PRO', streamMaxBitrateKbps: null })).toBe(320);
    expect(streamLimitKbps({ planId: 'CREATOR', streamMaxBitrateKbps: null })).toBe(256);
    expect(streamLimitKbps({ planId: 'FREE', streamMaxBitrateKbps: 256 })).toBe(256);
    expect(streamLimitFromEntitlements('PRO', [{ key: 'stream.maxBitrateKbps', limit: 320 }])).toBe(320);
    expect(streamLimitFromEntitlements('STUDIO', [{ key: 'stream.maxBitrateKbps', limit: null }])).toBe(320);
    expect(streamLimitFromEntitlements('CREATOR', [])).toBe(256);
  });

  it('backs off 5 s, 10 s, 20 s ... at most 10 minutes', () => {
    expect([1, 2, 3, 4].map(retryDelaySeconds)).toEqual([5, 10, 20, 40]);
    expect(retryDelaySeconds(20)).toBe(600);
  });
});

describe('waveforms and loudness reports', () => {
  it('keeps peaks per slice and resamples them by their maximum', () => {
    const samples = new Float32Array([0.1, -0.5, 0.2, 0.9, -0.3, 0.05]);
    expect(peaksOf(samples, 3)).toEqual([0.5, 0.9, 0.3]);
    expect(resampleWaveform([0.1, 0.5, 0.2, 0.9], 2)).toEqual([0.5, 0.9]);
    expect(resampleWaveform([0.1, 0.5], 4)).toEqual([0.1, 0.1, 0.5, 0.5]);
    expect(resampleWaveform([], 4)).toEqual([]);
  });

  it("parses loudnorm's JSON report from ffmpeg's stderr, and nothing else", () => {
    const stderr = `size=N/A time=00:00:04.00\n[Parsed_loudnorm_0 @ 0x1]\n{\n\t"input_i" : "-30.12",\n\t"input_tp" : "-20.00",\n\t"input_lra" : "1.00",\n\t"input_thresh" : "-40.50",\n\t"output_i" : "-14.02",\n\t"output_tp" : "-4.10",\n\t"output_lra" : "1.00",\n\t"output_thresh" : "-24.4",\n\t"normalization_type" : "linear",\n\t"target_offset" : "0.02"\n}\n`;
    expect(parseLoudnormReport(stderr)).toMatchObject({ input_i: '-30.12', output_i: '-14.02', target_offset: '0.02' });
    expect(parseLoudnormReport('Invalid data found when processing input')).toBeNull();
    expect(parseLoudnormReport('{ "input_i": "-1" }')).toBeNull();
  });
});

describe('stream grants', () => {
  const now = 1_800_000_000;
  const grant = { songId: SONG, sessionId: 'session-a', maxKbps: 128, exp: now + 600 };
  const params = (query: string) => new URLSearchParams(query);

  it('verify only as signed: not with another session, limit, song, secret, or once expired', () => {
    const query = grantQuery(SECRET, grant);
    expect(checkGrant(SECRET, SONG, params(query), now)).toEqual({ ok: true, grant });
    expect(checkGrant(SECRET, SONG, params(query.replace('s=session-a', 's=session-b')), now)).toEqual({ ok: false, reason: 'invalid' });
    expect(checkGrant(SECRET, SONG, params(query.replace('max=128', 'max=320')), now)).toEqual({ ok: false, reason: 'invalid' });
    expect(checkGrant(SECRET, '00000000-0000-4000-8000-000000000000', params(query), now)).toEqual({ ok: false, reason: 'invalid' });
    expect(checkGrant(`${SECRET}x`, SONG, params(query), now)).toEqual({ ok: false, reason: 'invalid' });
    expect(checkGrant(SECRET, SONG, params(query), now + 600)).toEqual({ ok: false, reason: 'expired' });
    expect(checkGrant(SECRET, SONG, params('s=a&max=1&exp=x&sig=y'), now)).toEqual({ ok: false, reason: 'invalid' });
    expect(checkGrant(SECRET, SONG, params(''), now)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('list only the renditions within the limit, and sign every file of a media playlist', () => {
    const query = grantQuery(SECRET, grant);
    const master = masterPlaylist(SONG, [320, 64, 256, 128], 128, query);
    expect(master.split('\n').filter((l) => l.startsWith('/'))).toEqual([
      `/media/hls/${SONG}/64/index.m3u8?${query}`,
      `/media/hls/${SONG}/128/index.m3u8?${query}`,
    ]);
    const stored = '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="key"\n#EXTINF:6.0,\nseg000.ts\n#EXTINF:2.0,\nseg001.ts\n#EXT-X-ENDLIST\n';
    const signed = signedMediaPlaylist(stored, SONG, 128, query);
    expect(signed).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="/media/hls/${SONG}/128/key?${query}"`);
    expect(signed.split('\n').filter((l) => l.startsWith('/'))).toEqual([
      `/media/hls/${SONG}/128/seg000.ts?${query}`,
      `/media/hls/${SONG}/128/seg001.ts?${query}`,
    ]);
  });

  it('derives a distinct key per rendition from the song key', () => {
    const songKey = randomBytes(16);
    const keys = [64, 128, 256, 320].map((kbps) => renditionKey(songKey, kbps).toString('hex'));
    expect(new Set(keys).size).toBe(4);
    expect(renditionKey(songKey, 128)).toEqual(renditionKey(Buffer.from(songKey), 128));
    expect(renditionKey(songKey, 128)).toHaveLength(16);
  });
});
