import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOUDNESS_TARGET, SEGMENT_SECONDS, parseLoudnormReport, peaksOf, renditionKey } from './domain/streaming.ts';

/** The ffmpeg binary: FFMPEG_PATH when set, else the static one `@ffmpeg-installer/ffmpeg` ships. */
export function resolveFfmpeg(configured: string | undefined): string {
  if (configured) return configured;
  const installer = createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string };
  return installer.path;
}

/** The source could not be decoded: retrying cannot help, the job fails with this message. */
export class UnusableSource extends Error {}

export interface TranscodeResult {
  /** Per rung, the folder holding its index.m3u8 and seg*.ts. */
  renditions: { kbps: number; dir: string }[];
  loudnessLufs: number;
  truePeakDbtp: number;
  waveform: number[];
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs ffmpeg to completion; the signal kills it. stderr keeps its last 64 KB. */
export function runFfmpeg(ffmpeg: string, args: string[], signal?: AbortSignal, keepStdout = false): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-nostats', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (keepStdout) out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString('utf8')).slice(-65536);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** ffmpeg's own words on why it failed, for a person: its last non-empty stderr line. */
function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? 'no output').slice(0, 300);
}

const num = (value: string) => {
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};

/**
 * Transcodes `source` into AAC HLS renditions under `workDir`: EBU R128 loudness normalisation in
 * two passes (measure, then a linear gain to -14 LUFS with true peak under -1 dBTP), one decode
 * for all rungs, ~6 s MPEG-TS segments encrypted with AES-128 under a key per rendition (derived from `key`), and the waveform's peaks.
 */
export async function transcode(input: {
  ffmpeg: string;
  source: string;
  workDir: string;
  rungs: number[];
  key: Buffer;
  signal?: AbortSignal;
}): Promise<TranscodeResult> {
  const { ffmpeg, source, workDir, rungs, key, signal } = input;
  // Aim a little under the ceiling: the AAC encoder's own overshoot must stay below -1 dBTP.
  const target = `I=${LOUDNESS_TARGET.integratedLufs}:TP=${LOUDNESS_TARGET.truePeakDbtp - 1}:LRA=11`;

  const measure = await runFfmpeg(ffmpeg, ['-i', source, '-vn', '-af', `loudnorm=${target}:print_format=json`, '-f', 'null', '-'], signal);
  if (measure.code !== 0) throw new UnusableSource(`The uploaded file could not be decoded as audio (ffmpeg: ${lastLine(measure.stderr)})`);
  const measured = parseLoudnormReport(measure.stderr);
  if (!measured) throw new UnusableSource('The uploaded file holds no audio ffmpeg could measure');
  const inputI = num(measured.input_i);
  if (inputI === null || inputI < -70) throw new UnusableSource('The uploaded audio is silent (its loudness is below -70 LUFS): there is nothing to normalise');

  const normalised = join(workDir, 'normalised.wav');
  const gain = [
    `loudnorm=${target}`,
    `measured_I=${measured.input_i}`,
    `measured_TP=${measured.input_tp}`,
    `measured_LRA=${measured.input_lra}`,
    `measured_thresh=${measured.input_thresh}`,
    `offset=${measured.target_offset}`,
    'linear=true',
    'print_format=json',
  ].join(':');
  const normalise = await runFfmpeg(ffmpeg, ['-y', '-i', source, '-vn', '-af', `${gain},aresample=44100`, '-ac', '2', '-c:a', 'pcm_f32le', normalised], signal);
  if (normalise.code !== 0) throw new Error(`loudness normalisation failed: ${lastLine(normalise.stderr)}`);
  const report = parseLoudnormReport(normalise.stderr);
  const loudnessLufs = report ? num(report.output_i) : null;
  const truePeakDbtp = report ? num(report.output_tp) : null;
  if (loudnessLufs === null || truePeakDbtp === null) throw new Error('loudness normalisation printed no measurement');

  const samples = await runFfmpeg(ffmpeg, ['-i', normalised, '-ac', '1', '-ar', '2000', '-f', 'f32le', '-c:a', 'pcm_f32le', '-'], signal, true);
  if (samples.code !== 0) throw new Error(`waveform extraction failed: ${lastLine(samples.stderr)}`);
  const floats = new Float32Array(samples.stdout.buffer, samples.stdout.byteOffset, Math.floor(samples.stdout.length / 4));
  const waveform = peaksOf(new Float32Array(floats));

  const outputs: string[] = [];
  const renditions: { kbps: number; dir: string }[] = [];
  for (const kbps of rungs) {
    const dir = join(workDir, String(kbps));
    await mkdir(dir, { recursive: true });
    renditions.push({ kbps, dir });
    // Each rendition has its own key; its URI is rewritten per stream session when the playlist is served.
    const keyFile = join(workDir, `${kbps}.key`);
    const keyInfo = join(workDir, `${kbps}.keyinfo`);
    await writeFile(keyFile, renditionKey(key, kbps), { mode: 0o600 });
    await writeFile(keyInfo, `key\n${keyFile}\n`);
    outputs.push(
      ...['-map', '0:a', '-c:a', 'aac', '-b:a', `${kbps}k`, '-ar', '44100', '-ac', '2'],
      ...['-f', 'hls', '-hls_time', String(SEGMENT_SECONDS), '-hls_playlist_type', 'vod', '-hls_list_size', '0'],
      ...['-hls_key_info_file', keyInfo, '-hls_segment_filename', join(dir, 'seg%03d.ts'), join(dir, 'index.m3u8')],
    );
  }
  const encode = await runFfmpeg(ffmpeg, ['-y', '-i', normalised, ...outputs], signal);
  if (encode.code !== 0) throw new Error(`AAC/HLS encoding failed: ${lastLine(encode.stderr)}`);
  return { renditions, loudnessLufs, truePeakDbtp, waveform };
}
