import { createHmac, timingSafeEqual } from 'node:crypto';

/** The AAC rendition ladder, in kbps. */
export const LADDER = [64, 128, 256, 320] as const;

/** EBU R128 targets of the renditions (integrated LUFS, true peak dBTP). */
export const LOUDNESS_TARGET = { integratedLufs: -14, truePeakDbtp: -1 } as const;

/** The HLS segment length aimed at, in seconds. */
export const SEGMENT_SECONDS = 6;

/** Peaks kept per song; `waveform(points)` resamples them. */
export const WAVEFORM_PEAKS = 1000;

/**
 * The rungs a source can feed: none above its own bitrate (a 128 kbps MP3 never becomes a 320
 * rendition), and always the lowest. A source whose bitrate is unknown gets the whole ladder.
 */
export function renditionsFor(sourceBitrateKbps: number | null): number[] {
  if (sourceBitrateKbps === null || sourceBitrateKbps <= 0) return [...LADDER];
  const rungs = LADDER.filter((kbps) => kbps <= sourceBitrateKbps);
  return rungs.length ? rungs : [LADDER[0]];
}

/** stream.maxBitrateKbps of the plans (payments' plans.ts), for rows projected before the entitlement was kept. */
const PLAN_STREAM_KBPS: Record<string, number> = { FREE: 128, CREATOR: 256, PRO: 320, STUDIO: 320 };

/** The caller's plan limit: the projected entitlement, else the plan's default, else FREE's. */
export function streamLimitKbps(plan: { planId: string; streamMaxBitrateKbps: number | null } | undefined): number {
  if (!plan) return PLAN_STREAM_KBPS.FREE!;
  if (plan.streamMaxBitrateKbps !== null) return plan.streamMaxBitrateKbps;
  return PLAN_STREAM_KBPS[plan.planId] ?? PLAN_STREAM_KBPS.FREE!;
}

/** The stream.maxBitrateKbps entitlement of an entitlements list; null (unlimited) when it says so, the plan's default when absent. */
export function streamLimitFromEntitlements(planId: string, entitlements: { key: string; limit: number | null }[]): number | null {
  const found = entitlements.find((e) => e.key === 'stream.maxBitrateKbps');
  if (found) return found.limit ?? 320;
  return PLAN_STREAM_KBPS[planId] ?? PLAN_STREAM_KBPS.FREE!;
}

/** Delay before retry number `attempt` (1-based) of a failed job: 5 s, 10 s, 20 s, ... at most 10 minutes. */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(600, 5 * 2 ** Math.max(0, attempt - 1));
}

/** `points` peaks from the stored ones: each the largest of the stored peaks it covers. */
export function resampleWaveform(peaks: readonly number[], points: number): number[] {
  if (peaks.length === 0 || points <= 0) return [];
  const out: number[] = [];
  for (let i = 0; i < points; i++) {
    const start = Math.floor((i * peaks.length) / points);
    const end = Math.max(start + 1, Math.floor(((i + 1) * peaks.length) / points));
    let max = 0;
    for (let j = start; j < end && j < peaks.length; j++) max = Math.max(max, peaks[j]!);
    out.push(max);
  }
  return out;
}

/** Peak absolute sample of each of `buckets` equal slices of mono float samples, rounded to 3 decimals. */
export function peaksOf(samples: Float32Array, buckets = WAVEFORM_PEAKS): number[] {
  if (samples.length === 0) return [];
  const n = Math.min(buckets, samples.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * samples.length) / n);
    const end = Math.floor(((i + 1) * samples.length) / n);
    let max = 0;
    for (let j = start; j < end; j++) max = Math.max(max, Math.abs(samples[j]!));
    out.push(Math.round(Math.min(1, max) * 1000) / 1000);
  }
  return out;
}

/** The JSON block loudnorm prints with print_format=json (its last `{ ... }` on stderr). */
export interface LoudnormReport {
  input_i: string;
  input_tp: string;
  input_lra: string;
  input_thresh: string;
  output_i: string;
  output_tp: string;
  target_offset: string;
}

export function parseLoudnormReport(stderr: string): LoudnormReport | null {
  const start = stderr.lastIndexOf('{');
  const end = stderr.lastIndexOf('}');
  if (start < 0 || end < start) return null;
  try {
    const parsed = JSON.parse(stderr.slice(start, end + 1)) as Partial<LoudnormReport>;
    const keys = ['input_i', 'input_tp', 'input_lra', 'input_thresh', 'output_i', 'output_tp', 'target_offset'] as const;
    if (!keys.every((k) => typeof parsed[k] === 'string')) return null;
    return parsed as LoudnormReport;
  } catch {
    return null;
  }
}

/**
 * Each rendition's AES-128 key, derived from the song's own: a session limited to 128 kbps holds
 * the 128 kbps key, which opens nothing above it.
 */
export function renditionKey(songKey: Buffer, kbps: number): Buffer {
  return createHmac('sha256', songKey).update(`hls-rendition-key\n${kbps}`).digest().subarray(0, 16);
}

// ---- Stream sessions: the signed URLs of a song's HLS files ----

/**
 * What a `songStream` grant allows: one user's session, one song, renditions up to `maxKbps`,
 * until `exp`. Every HLS URL of the grant carries it, signed; changing any part (another
 * session's id, a higher limit) breaks the signature.
 */
export interface StreamGrant {
  songId: string;
  sessionId: string;
  maxKbps: number;
  exp: number;
}

function signGrant(secret: string, g: StreamGrant): string {
  return createHmac('sha256', secret).update(`hls\n${g.songId}\n${g.sessionId}\n${g.maxKbps}\n${g.exp}`).digest('base64url');
}

/** The query string of a grant's URLs. */
export function grantQuery(secret: string, g: StreamGrant): string {
  return new URLSearchParams({ s: g.sessionId, max: String(g.maxKbps), exp: String(g.exp), sig: signGrant(secret, g) }).toString();
}

export type GrantCheck = { ok: true; grant: StreamGrant } | { ok: false; reason: 'invalid' | 'expired' };

export function checkGrant(secret: string, songId: string, params: URLSearchParams, nowSeconds: number): GrantCheck {
  const sessionId = params.get('s');
  const max = params.get('max');
  const exp = params.get('exp');
  const sig = params.get('sig');
  if (!sessionId || !/^[A-Za-z0-9_-]{1,128}$/.test(sessionId) || !max || !/^\d{1,4}$/.test(max) || !exp || !/^\d{1,12}$/.test(exp) || !sig) {
    return { ok: false, reason: 'invalid' };
  }
  const grant = { songId, sessionId, maxKbps: Number(max), exp: Number(exp) };
  const expected = Buffer.from(signGrant(secret, grant));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'invalid' };
  if (grant.exp <= nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, grant };
}

export const hlsBase = (songId: string) => `/media/hls/${songId}`;

/** The master playlist of a grant: only the renditions at or below its limit. */
export function masterPlaylist(songId: string, renditions: readonly number[], maxKbps: number, query: string): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3'];
  for (const kbps of [...renditions].sort((a, b) => a - b)) {
    if (kbps > maxKbps) continue;
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${kbps * 1100},AVERAGE-BANDWIDTH=${kbps * 1000},CODECS="mp4a.40.2"`);
    lines.push(`${hlsBase(songId)}/${kbps}/index.m3u8?${query}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * A rendition's media playlist as ffmpeg wrote it, with every segment and the key pointed at
 * the grant's signed URLs (their query is lost when a player resolves a relative URI).
 */
export function signedMediaPlaylist(stored: string, songId: string, kbps: number, query: string): string {
  return stored
    .split('\n')
    .map((line) => {
      if (line.startsWith('#EXT-X-KEY:')) return line.replace(/URI="[^"]*"/, `URI="${hlsBase(songId)}/${kbps}/key?${query}"`);
      if (line && !line.startsWith('#')) return `${hlsBase(songId)}/${kbps}/${line.trim()}?${query}`;
      return line;
    })
    .join('\n');
}

export const SEGMENT_NAME = /^seg\d{1,5}\.ts$/;
