// Streaming (issue 17) on catalog's own schema with the real ffmpeg: transcoding jobs run by the
// worker, the HLS routes served by a local HTTP server exactly as the subgraph mounts them, plans
// injected as billing announces them. Audio is a few seconds long so the suite stays quick.
import { createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFailureLimiter, createLogger, type Principal, type Role } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { EntitlementsChanged } from '@vibestream/contracts/payments';
import { loadCatalogConfig, type CatalogConfig } from '../src/config.ts';
import { encodeWav } from '../src/domain/wav.ts';
import { catalogHandlers } from '../src/handlers.ts';
import { hlsRoutes } from '../src/hls.ts';
import { migrations } from '../src/migrations.ts';
import { CatalogService } from '../src/service.ts';
import { FilesystemStorage } from '../src/storage/filesystem.ts';
import * as store from '../src/store.ts';
import { StreamWorker } from '../src/stream-worker.ts';
import { resolveFfmpeg, runFfmpeg } from '../src/transcode.ts';

const SECRET = 'test-media-signing-secret-0123456789abcdef';
const ffmpeg = resolveFfmpeg(process.env.FFMPEG_PATH);
const log = createLogger('catalog-streaming-test', 'silent');

let h: ContextHarness;
let mediaDir: string;
let storage: FilesystemStorage;
let config: CatalogConfig;
let service: CatalogService;
let worker: StreamWorker;
let server: Server;
let base: string;

beforeAll(async () => {
  h = await openContext({ name: 'catalog', migrations });
  h.consume(catalogHandlers(h.db));
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-stream-'));
  storage = new FilesystemStorage(mediaDir);
  config = loadCatalogConfig({ DATABASE_URL: h.database.url, MEDIA_DIR: mediaDir, MEDIA_SIGNING_SECRET: SECRET, STREAM_STARTS_PER_MINUTE: '5' });
  service = new CatalogService({ db: h.db, config, storage, signingSecret: SECRET, streamStarts: createFailureLimiter(null, 'streaming-test:', 60) });
  // Run by hand (runOnce) so each test knows when its job ran.
  worker = newWorker(30);
  const routes = hlsRoutes({ db: h.db, storage, signingSecret: SECRET, log });
  server = createServer((req, res) => {
    const route = routes.find((r) => r.method === req.method && req.url?.startsWith(r.path));
    if (!route) return void res.writeHead(404).end();
    Promise.resolve(route.handle(req, res)).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

const newWorker = (leaseSeconds: number) => new StreamWorker({ db: h.db, storage, ffmpeg, log, leaseSeconds, pollMs: 100, concurrency: 1 });
const as = (roles: Role[], userId = randomUUID()): Principal => ({ userId, roles, sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 3600 });

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = (await promise.then(
    () => null,
    (e: unknown) => e,
  )) as { extensions?: { code?: string } } | null;
  return error?.extensions?.code;
}

/** `seconds` of a 44.1 kHz tone (705 kbps PCM: every rung of the ladder) at `amplitude` of full scale, wobbling so it is not a pure sine. */
function tone(seconds: number, amplitude: number): Buffer {
  const rate = 44100;
  const samples = new Int16Array(Math.round(seconds * rate));
  for (let i = 0; i < samples.length; i++) {
    const envelope = 0.75 + 0.25 * Math.sin((2 * Math.PI * i) / rate);
    samples[i] = Math.round(Math.sin((2 * Math.PI * 330 * i) / rate) * envelope * amplitude * 32767);
  }
  return encodeWav(samples, rate);
}

/** What the upload route does once it accepted the bytes. */
async function storeAudio(p: Principal, songId: string, audio: Buffer) {
  const ticket = await service.requestSongUpload(p, songId, 'audio/wav', audio.length);
  const ticketId = new URL(ticket.uploadUrl, 'http://media').pathname.split('/').pop()!;
  const key = `songs/${songId}/${randomUUID()}`;
  const stored = await storage.put(key, Readable.from([audio]), 'audio/wav');
  await h.db.useCase(async (tx) => {
    await store.claimTicket(tx, ticketId);
    await store.setSongMedia(tx, songId, { key, contentType: 'audio/wav', bytes: stored.bytes, etag: stored.etag });
    await store.markTicketStored(tx, ticketId, stored.bytes);
  });
  return key;
}

async function newArtist() {
  const principal = as(['ARTIST']);
  await service.createArtistProfile(principal, { name: `Artist ${principal.userId.slice(0, 6)}` });
  return principal;
}

async function publish(audio: Buffer) {
  const artist = await newArtist();
  const song = await service.createSong(artist, { title: 'Loud and clear', genre: 'Test' });
  await storeAudio(artist, song.id, audio);
  await service.publishSong(artist, song.id);
  return { artist, songId: song.id };
}

const jobOf = async (songId: string) => (await store.streamJobsBySongs(h.db.reader(), [songId]))[0];

async function runJobs(w = worker): Promise<void> {
  while (await w.runOnce());
}

async function grantPlan(userId: string, planId: string, maxKbps: number) {
  await h.inject(EntitlementsChanged, {
    userId,
    planId,
    entitlements: [
      { key: 'uploads.monthly', limit: null },
      { key: 'storage.bytes', limit: null },
      { key: 'stream.maxBitrateKbps', limit: maxKbps },
    ],
    changedAt: new Date().toISOString(),
  });
}

const get = (path: string) => fetch(`${base}${path}`);
const text = async (path: string) => {
  const res = await get(path);
  expect(res.status, path).toBe(200);
  return res.text();
};

/** The URI lines of a playlist. */
const uris = (playlist: string) => playlist.split('\n').filter((l) => l && !l.startsWith('#'));

/** A URL of the same session with another path: the grant's query string is the same for every file. */
const sibling = (masterUrl: string, file: string) => masterUrl.replace('master.m3u8', file);

/** Fetches a rendition through its signed playlist, decrypts each segment with the served key (AES-128-CBC, IV = media sequence), and measures it with ebur128. */
async function measureRendition(mediaPlaylistUrl: string) {
  const playlist = await text(mediaPlaylistUrl);
  const keyUri = /#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"/.exec(playlist)?.[1];
  expect(keyUri).toBeDefined();
  const key = Buffer.from(await (await get(keyUri!)).arrayBuffer());
  expect(key.length).toBe(16);
  const firstSequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? 0);
  const plain: Buffer[] = [];
  for (const [i, uri] of uris(playlist).entries()) {
    const res = await get(uri);
    expect(res.status).toBe(200);
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(firstSequence + i, 12);
    const decipher = createDecipheriv('aes-128-cbc', key, iv);
    plain.push(decipher.update(Buffer.from(await res.arrayBuffer())), decipher.final());
  }
  const dir = await mkdtemp(join(tmpdir(), 'vs-measure-'));
  try {
    const file = join(dir, 'out.ts');
    await writeFile(file, Buffer.concat(plain));
    const run = await runFfmpeg(ffmpeg, ['-i', file, '-af', 'ebur128=peak=true', '-f', 'null', '-']);
    expect(run.code).toBe(0);
    const summary = run.stderr.slice(run.stderr.lastIndexOf('Summary:'));
    return {
      integrated: Number(/I:\s+(-?[\d.]+) LUFS/.exec(summary)?.[1]),
      truePeak: Number(/True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1]),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('transcoding', () => {
  it('publishing enqueues a job that ends READY with renditions up to the source, loudness and a waveform', async () => {
    const { songId } = await publish(tone(4, 0.05));
    expect((await jobOf(songId))?.status).toBe('PENDING');
    await runJobs();
    const job = await jobOf(songId);
    expect(job).toMatchObject({ status: 'READY', attempt: 1, failureReason: null });
    expect(job!.renditions!.map((r) => r.bitrateKbps)).toEqual([64, 128, 256, 320]);
    expect(job!.renditions!.every((r) => r.codec === 'aac')).toBe(true);
    expect(Math.abs(job!.loudnessLufs! - -14)).toBeLessThanOrEqual(1);
    expect(job!.truePeakDbtp!).toBeLessThanOrEqual(-1);
    expect(job!.waveform!.length).toBeGreaterThan(100);
    expect(Math.max(...job!.waveform!)).toBeGreaterThan(0.1);
  });

  it('makes no rendition above the source: an 8 kHz mono WAV (128 kbps) gets 64 and 128', async () => {
    const rate = 8000;
    const samples = new Int16Array(rate * 3).map((_, i) => Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000));
    const { songId } = await publish(encodeWav(samples, rate));
    await runJobs();
    expect((await jobOf(songId))?.renditions?.map((r) => r.bitrateKbps)).toEqual([64, 128]);
  });

  it('a corrupt upload ends FAILED at once, with a reason a person can act on', async () => {
    const artist = await newArtist();
    const song = await service.createSong(artist, { title: 'Broken', genre: 'Noise' });
    // Stored bytes that are not audio (a stored upload is enough to make a job).
    const key = await storeAudio(artist, song.id, randomBytes(20_000));
    await h.db.useCase((tx) => store.enqueueStreamJob(tx, { songId: song.id, sourceKey: key, sourceBitrateKbps: null, encryptionKey: randomBytes(16) }));
    await runJobs();
    const job = await jobOf(song.id);
    expect(job).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(job!.failureReason).toMatch(/could not be decoded as audio/);
  });

  it("a killed worker's job is claimed again once its lease lapses and completes, with no duplicate renditions", async () => {
    const { songId } = await publish(tone(4, 0.3));
    const doomed = newWorker(1);
    doomed.start();
    while ((await jobOf(songId))?.status !== 'PROCESSING') await new Promise((r) => setTimeout(r, 20));
    // As if the dead attempt had uploaded part of its output already.
    await storage.put(`hls/${songId}/1/64/seg000.ts`, Readable.from([randomBytes(100)]), 'video/mp2t');
    await doomed.crash();
    expect((await jobOf(songId))?.status).toBe('PROCESSING');

    const survivor = newWorker(1);
    // Nothing to claim until the dead worker's lease lapses.
    while (!(await survivor.runOnce())) await new Promise((r) => setTimeout(r, 100));
    const job = await jobOf(songId);
    expect(job).toMatchObject({ status: 'READY', attempt: 2, outputPrefix: `hls/${songId}/2` });
    expect(job!.renditions!.map((r) => r.bitrateKbps)).toEqual([64, 128, 256, 320]);
    // One set of files: the dead attempt's are gone, the READY attempt's are there.
    expect(await storage.size(`hls/${songId}/1/64/seg000.ts`)).toBeNull();
    expect(await storage.size(`hls/${songId}/2/64/seg000.ts`)).toBeGreaterThan(0);
  });
});

describe('delivery by plan', () => {
  let songId: string;
  beforeAll(async () => {
    ({ songId } = await publish(tone(7, 0.02)));
    await runJobs();
  });

  it('NOT_FOUND until READY, UNAUTHENTICATED without a session', async () => {
    const { songId: pending } = await publish(tone(1, 0.2));
    expect(await codeOf(service.songStream(as(['FAN']), pending))).toBe('NOT_FOUND');
    expect(await codeOf(service.songStream(null, songId))).toBe('UNAUTHENTICATED');
    await runJobs();
  });

  it("a FREE listener's master lists nothing above 128, and the 320 playlist, segment and key are 403; after PRO the next session lists 320", async () => {
    const fan = as(['FAN']);
    const free = await service.songStream(fan, songId);
    expect(free.maxBitrateKbps).toBe(128);
    const master = await text(free.masterPlaylistUrl);
    expect(uris(master).map((u) => Number(u.split('/')[4]))).toEqual([64, 128]);
    expect(master).not.toMatch(/\/(256|320)\//);
    for (const file of ['320/index.m3u8', '320/seg000.ts', '320/key', '256/index.m3u8']) {
      expect((await get(sibling(free.masterPlaylistUrl, file))).status, file).toBe(403);
    }
    // Raising the limit in the URL breaks its signature.
    expect((await get(sibling(free.masterPlaylistUrl, '320/index.m3u8').replace('max=128', 'max=320'))).status).toBe(403);
    expect((await get(sibling(free.masterPlaylistUrl, '128/index.m3u8'))).status).toBe(200);

    await grantPlan(fan.userId, 'PRO', 320);
    const pro = await service.songStream(fan, songId);
    expect(pro.maxBitrateKbps).toBe(320);
    expect(uris(await text(pro.masterPlaylistUrl)).map((u) => Number(u.split('/')[4]))).toEqual([64, 128, 256, 320]);
    expect((await get(sibling(pro.masterPlaylistUrl, '320/key'))).status).toBe(200);
  });

  it('outputs measure -14 LUFS integrated (within 1 LU) with true peak at most -1 dBTP, by ebur128 on the decrypted renditions', async () => {
    const fan = as(['FAN']);
    await grantPlan(fan.userId, 'STUDIO', 320);
    const session = await service.songStream(fan, songId);
    for (const kbps of [64, 320]) {
      const measured = await measureRendition(sibling(session.masterPlaylistUrl, `${kbps}/index.m3u8`));
      expect(Math.abs(measured.integrated - -14), `${kbps} kbps: ${measured.integrated} LUFS`).toBeLessThanOrEqual(1);
      expect(measured.truePeak, `${kbps} kbps`).toBeLessThanOrEqual(-1);
    }
  });

  it("a key request with another session's signature is 403", async () => {
    const a = as(['FAN']);
    const b = as(['FAN']);
    const sessionA = await service.songStream(a, songId);
    const sessionB = await service.songStream(b, songId);
    const keyA = sibling(sessionA.masterPlaylistUrl, '128/key');
    const keyB = sibling(sessionB.masterPlaylistUrl, '128/key');
    expect((await get(keyA)).status).toBe(200);
    // B's session id under A's signature, and A's under B's.
    expect((await get(keyA.replace(`s=${a.sessionId}`, `s=${b.sessionId}`))).status).toBe(403);
    const sigA = new URL(keyA, base).searchParams.get('sig')!;
    const sigB = new URL(keyB, base).searchParams.get('sig')!;
    expect((await get(keyB.replace(sigB, sigA))).status).toBe(403);
    // Another song's path under this session's signature.
    expect((await get(keyA.replace(songId, randomUUID()))).status).toBe(403);
  });

  it('limits stream starts per user', async () => {
    const fan = as(['FAN']);
    for (let i = 0; i < config.STREAM_STARTS_PER_MINUTE; i++) await service.songStream(fan, songId);
    expect(await codeOf(service.songStream(fan, songId))).toBe('RATE_LIMITED');
    expect((await service.songStream(as(['FAN']), songId)).maxBitrateKbps).toBe(128);
  });
});
