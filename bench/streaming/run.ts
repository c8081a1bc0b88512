/**
 * Streaming benchmark (`npm run bench:streaming`). Prints, in one run:
 *
 *  1. Transcoding real-time factor: a generated 3-minute 44.1 kHz stereo track (tones, a beat and
 *     noise) through catalog's transcode() (two-pass loudnorm, waveform, AAC HLS renditions 64 /
 *     128 / 256 / 320 with AES-128) in this process: seconds of audio per CPU second of the ffmpeg
 *     processes (the budget: more than 10x real time per core), and per wall second.
 *  2. Time to first segment: the identity and catalog subgraphs and our gateway each in their own
 *     child process (bench/catalog/server.ts); a published song (BENCH_TRACK_SECONDS long) is
 *     transcoded by catalog's own worker (publish-to-READY is printed too); then, for a new
 *     session each time, songStream -> master -> the 128 kbps playlist -> its key -> its first
 *     segment through the gateway: median and p99 over BENCH_SESSIONS sessions.
 *  3. Playlist + segment requests through the gateway under load (autocannon, N connections):
 *     one session's 128 kbps playlist and segments in turn; req/s, p50, p99; every answer must be
 *     200 (anything else is counted and fails the run). The budget: at least 1,000 requests/s.
 *     The same load straight to catalog is printed beside it, for context.
 *
 * Options (flag or environment variable):
 *   --duration=S        BENCH_DURATION        seconds of measured load (10)
 *   --connections=N     BENCH_CONNECTIONS     concurrent connections (10)
 *   --sessions=N        BENCH_SESSIONS        stream sessions timed to their first segment (20)
 *   --track-seconds=S   BENCH_TRACK_SECONDS   length of the song served through the gateway (60)
 *   --rtf-seconds=S     BENCH_RTF_SECONDS     length of the track transcoded for the real-time factor (180)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { composeSupergraph } from '@vibestream/platform';
import { freePort } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { wavHeader } from '@vibestream/catalog/wav';
import { resolveFfmpeg, transcode } from '@vibestream/catalog/transcode';
import { startChild } from '../lib/children.ts';
import { fmt, median, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import type { Role } from '../catalog/server.ts';

const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    sessions: { type: 'string' },
    'track-seconds': { type: 'string' },
    'rtf-seconds': { type: 'string' },
  },
});
const options = {
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 10, 1),
  connections: Math.round(numberOption(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10, 1)),
  sessions: Math.round(numberOption(flags.sessions, 'sessions', 'BENCH_SESSIONS', 20, 1)),
  trackSeconds: numberOption(flags['track-seconds'], 'track-seconds', 'BENCH_TRACK_SECONDS', 60, 1),
  rtfSeconds: numberOption(flags['rtf-seconds'], 'rtf-seconds', 'BENCH_RTF_SECONDS', 180, 1),
};

const RATE = 44_100;

/** A stereo 16-bit WAV of `seconds`: two detuned tones under a slow envelope, a kick every half second, a little noise. */
function track(seconds: number): Buffer {
  const frames = Math.round(seconds * RATE);
  const data = Buffer.alloc(frames * 4);
  let seed = 1;
  const noise = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  for (let i = 0; i < frames; i++) {
    const t = i / RATE;
    const envelope = 0.6 + 0.4 * Math.sin(2 * Math.PI * 0.2 * t);
    const beat = t % 0.5;
    const kick = beat < 0.12 ? Math.sin(2 * Math.PI * (60 + 100 * (0.12 - beat)) * beat) * (1 - beat / 0.12) : 0;
    const left = 0.25 * envelope * Math.sin(2 * Math.PI * 220 * t) + 0.15 * Math.sin(2 * Math.PI * 331 * t) + 0.3 * kick + 0.03 * noise();
    const right = 0.25 * envelope * Math.sin(2 * Math.PI * 221.5 * t) + 0.15 * Math.sin(2 * Math.PI * 442 * t) + 0.3 * kick + 0.03 * noise();
    data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, left)) * 32767), i * 4);
    data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, right)) * 32767), i * 4 + 2);
  }
  return Buffer.concat([wavHeader(data.length, RATE, 2), data]);
}

/** CPU seconds of this process's children that have exited (cutime + cstime). */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)]!;

async function gql<T>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown[] };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}: ${status} ${text.slice(0, 400)}`);
  return body.data;
}

let users = 0;
async function signUp(url: string, role: 'FAN' | 'ARTIST'): Promise<string> {
  const data = await gql<{ register: { accessToken: string } }>(url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
    input: { email: `bench-stream-${++users}-${Date.now()}@example.com`, password: 'a-long-password', displayName: 'Bench', role },
  });
  return data.register.accessToken;
}

async function main(): Promise<number> {
  console.log(
    `streaming bench: ${fmt(options.rtfSeconds)} s track transcoded; ${fmt(options.trackSeconds)} s song served; ${options.sessions} sessions; ` +
      `${options.connections} connections for ${options.duration} s; node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const work = await mkdtemp(join(tmpdir(), 'vs-bench-stream-'));
  onCleanup(() => rm(work, { recursive: true, force: true }));

  // ------------------------------------------------------------------ 1. real-time factor
  const source = join(work, 'track.wav');
  await writeFile(source, track(options.rtfSeconds));
  const out = join(work, 'out');
  await mkdir(out);
  const cpuBefore = childCpuSeconds();
  const wallStart = performance.now();
  const result = await transcode({ ffmpeg: resolveFfmpeg(process.env.FFMPEG_PATH), source, workDir: out, rungs: [64, 128, 256, 320], key: randomBytes(16) });
  const wall = (performance.now() - wallStart) / 1000;
  const cpu = childCpuSeconds() - cpuBefore;
  console.log('\n1. Transcoding (two-pass loudnorm, waveform, 4 AAC HLS renditions, AES-128)');
  console.log(
    table([
      ['track', 'wall s', 'ffmpeg CPU s', 'audio s / CPU s', 'audio s / wall s', 'LUFS', 'dBTP'],
      [
        `${fmt(options.rtfSeconds)} s stereo 44.1 kHz`,
        fmt(wall, 1),
        fmt(cpu, 1),
        `${fmt(options.rtfSeconds / cpu, 1)}x`,
        `${fmt(options.rtfSeconds / wall, 1)}x`,
        fmt(result.loudnessLufs, 1),
        fmt(result.truePeakDbtp, 1),
      ],
    ]),
  );

  // ------------------------------------------------------------------ 2. the stack
  const mediaDir = join(work, 'media');
  const gatewayPort = await freePort();
  const { env } = await benchEnv('benchstream', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    NODE_ENV: 'test',
    PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: randomBytes(32).toString('hex'),
    STREAM_STARTS_PER_MINUTE: '1000000',
  });
  const script = join(here, '../catalog/server.ts');
  const [identity, catalog] = await Promise.all([startChild<Role>(script, { role: 'identity', env }), startChild<Role>(script, { role: 'catalog', env })]);
  const urls = new Map([
    [identitySubgraph.name, identity.url],
    [catalogSubgraph.name, catalog.url],
  ]);
  const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph], (m) => urls.get(m.name)!);
  const gateway = await startChild<Role>(script, { role: 'gateway', env, supergraphSdl: supergraph, port: gatewayPort });
  const url = gateway.url;
  const base = `http://127.0.0.1:${gatewayPort}`;

  const artist = await signUp(url, 'ARTIST');
  await gql(url, `mutation { createArtistProfile(input: { name: "Bench Artist" }) { id } }`, {}, artist);
  const song = await gql<{ createSong: { id: string } }>(url, `mutation { createSong(input: { title: "Bench Stream", genre: "Bench" }) { id } }`, {}, artist);
  const songId = song.createSong.id;
  const audio = track(options.trackSeconds);
  const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
    url,
    `mutation($songId: ID!, $size: Int!) { requestSongUpload(songId: $songId, contentType: "audio/wav", byteSize: $size) { uploadUrl } }`,
    { songId, size: audio.length },
    artist,
  );
  const put = await fetch(new URL(ticket.requestSongUpload.uploadUrl, base), {
    method: 'PUT',
    headers: { 'content-type': 'audio/wav' },
    body: new Uint8Array(audio),
  });
  if (put.status !== 201) throw new Error(`upload answered ${put.status}`);
  const published = performance.now();
  await gql(url, `mutation($songId: ID!) { publishSong(songId: $songId) { id } }`, { songId }, artist);
  let status = '';
  while (status !== 'READY') {
    const info = await gql<{ song: { stream: { status: string; failureReason: string | null } | null } }>(
      url,
      `query($id: ID!) { song(id: $id) { stream { status failureReason } } }`,
      { id: songId },
      artist,
    );
    status = info.song.stream?.status ?? 'none';
    if (status === 'FAILED') throw new Error(`transcoding failed: ${info.song.stream?.failureReason}`);
    if (status !== 'READY') await new Promise((r) => setTimeout(r, 50));
  }
  const toReady = (performance.now() - published) / 1000;

  const fan = await signUp(url, 'FAN');
  const firstSegment: number[] = [];
  let sessionUrls: string[] = [];
  for (let i = 0; i < options.sessions + 2; i++) {
    const started = performance.now();
    const session = await gql<{ songStream: { masterPlaylistUrl: string } }>(
      url,
      `query($songId: ID!) { songStream(songId: $songId) { masterPlaylistUrl } }`,
      { songId },
      fan,
    );
    const master = await (await fetch(new URL(session.songStream.masterPlaylistUrl, base))).text();
    const variant = master.split('\n').find((l) => l.includes('/128/'))!;
    const playlist = await (await fetch(new URL(variant, base))).text();
    const key = /URI="([^"]+)"/.exec(playlist)![1]!;
    const segments = playlist.split('\n').filter((l) => l.startsWith('/'));
    const keyResponse = await fetch(new URL(key, base));
    const segment = await fetch(new URL(segments[0]!, base));
    if (keyResponse.status !== 200 || segment.status !== 200) throw new Error(`key ${keyResponse.status}, segment ${segment.status}`);
    await keyResponse.arrayBuffer();
    await segment.arrayBuffer();
    // The first two warm the connections and the query plan.
    if (i >= 2) firstSegment.push(performance.now() - started);
    sessionUrls = [variant, ...segments];
  }
  console.log('\n2. Through the gateway');
  console.log(
    table([
      ['measure', 'value'],
      [`publish -> READY (${fmt(options.trackSeconds)} s song, catalog's worker)`, `${fmt(toReady, 2)} s`],
      [`time to first segment (songStream, master, playlist, key, segment), median of ${options.sessions}`, `${fmt(median(firstSegment), 1)} ms`],
      ['time to first segment, p99', `${fmt(p99(firstSegment), 1)} ms`],
    ]),
  );

  // ------------------------------------------------------------------ 3. load
  const load = async (origin: string) => {
    let next = 0;
    const loaded = await autocannon({
      url: origin,
      connections: options.connections,
      duration: options.duration,
      timeout: 10,
      requests: [{ setupRequest: (req) => ({ ...req, method: 'GET', path: sessionUrls[next++ % sessionUrls.length]! }) }],
    });
    return { loaded, bad: loaded.errors + loaded.timeouts + loaded.non2xx };
  };
  const viaGateway = await load(base);
  // The same requests straight to catalog, for context: what the gateway's forwarding costs.
  const direct = await load(new URL(catalog.url).origin);
  console.log(`\n3. Playlist + segment requests (${sessionUrls.length - 1} segments and the playlist in turn)`);
  const row = (name: string, { loaded, bad }: Awaited<ReturnType<typeof load>>) => [
    name,
    String(options.connections),
    fmt(loaded.requests.average),
    fmt(loaded.latency.p50, 1),
    fmt(loaded.latency.p99, 1),
    fmt(loaded.throughput.average / 1e6, 1),
    fmt(loaded.requests.total),
    fmt(bad),
  ];
  console.log(
    table([
      ['target', 'connections', 'req/s', 'p50 ms', 'p99 ms', 'MB/s', 'requests', 'not 200'],
      row('through the gateway', viaGateway),
      row('catalog directly (context)', direct),
    ]),
  );
  const bad = viaGateway.bad + direct.bad;
  return bad === 0 ? 0 : 1;
}

runBench(main);
