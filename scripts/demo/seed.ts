// Seeds the demo content through the public API at the gateway, as people would make it: sign-ups,
// artist profiles, songs uploaded through their signed URLs and published (catalog reads and
// processes them like any upload), share offerings, and the demo fan's card deposit. Each step
// first looks whether it was done, so a seed cut short resumes at the next start; a marker in the
// data folder, naming the database, skips it all once complete.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@vibestream/platform';
import {
  CreateArtistProfileDocument,
  CreateDepositDocument,
  CreateShareOfferingDocument,
  CompleteListenSessionDocument,
  CreateSongDocument,
  ListenHeartbeatDocument,
  LoginDocument,
  MyArtistSongsDocument,
  MyPaymentsDocument,
  PortfolioDocument,
  PublishSongDocument,
  RegisterDocument,
  RequestSongUploadDocument,
  RewardPoolDocument,
  SearchSongsDocument,
  StartListenSessionDocument,
  TrendingSongsDocument,
} from '../../clients/generated/graphql.ts';
import { OperationFailed, operationClient, type OperationClient } from './client.ts';
import { DEMO_PASSWORD, demoArtists, demoFan, demoListeners, demoPlays, type DemoArtist, type DemoSong } from './content.ts';
import { tuneWav } from './music.ts';

export interface SeedOptions {
  /** The gateway's GraphQL address, http://127.0.0.1:4000/graphql. */
  graphqlUrl: string;
  log: Logger;
  /** Fund the demo fan by card (only where card payments succeed by themselves: the local Stripe stand-in). */
  fundFan: boolean;
  /** How long to wait for another context to learn what was just made (a published song, a deposit). */
  settleTimeoutMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Repeats `attempt` while it fails with one of `codes` (another context has not caught up yet), up to `timeoutMs`. */
async function untilSettled<T>(attempt: () => Promise<T>, codes: string[], timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof OperationFailed) || !codes.includes(error.code ?? '') || Date.now() > deadline) throw error;
    }
    await sleep(250);
  }
}

class DemoSeeder {
  private readonly api: OperationClient;
  private readonly gatewayOrigin: string;
  private readonly settleMs: number;
  private readonly options: SeedOptions;
  readonly made = { accounts: 0, songs: 0, offerings: 0, depositedCents: 0, listens: 0 };

  constructor(options: SeedOptions) {
    this.options = options;
    this.api = operationClient(options.graphqlUrl);
    this.gatewayOrigin = new URL(options.graphqlUrl).origin;
    this.settleMs = options.settleTimeoutMs ?? 30_000;
  }

  /** Signs up, or signs in when the account exists (a seed cut short, or a marker removed). */
  private async account(email: string, displayName: string, role: 'FAN' | 'ARTIST'): Promise<string> {
    this.options.signal?.throwIfAborted();
    try {
      const { register } = await this.api.data(RegisterDocument, { input: { email, password: DEMO_PASSWORD, displayName, role } });
      this.made.accounts++;
      return register.accessToken;
    } catch (error) {
      if (!(error instanceof OperationFailed) || error.code !== 'CONFLICT') throw error;
    }
    return (await this.api.data(LoginDocument, { email, password: DEMO_PASSWORD })).login.accessToken;
  }

  async artist(artist: DemoArtist): Promise<void> {
    const token = await this.account(artist.email, artist.displayName, 'ARTIST');
    const mySongs = async () => (await this.api.data(MyArtistSongsDocument, {}, token)).me?.artistProfile?.songs.edges.map((e) => e.node);
    let songs = await mySongs();
    if (!songs) {
      await this.api.data(CreateArtistProfileDocument, { input: { name: artist.name, bio: artist.bio } }, token);
      songs = [];
    }
    for (const song of artist.songs) {
      const existing = songs.find((s) => s.title === song.title);
      const songId = existing?.id ?? (await this.api.data(CreateSongDocument, { input: { title: song.title, genre: song.genre } }, token)).createSong.id;
      if (existing?.status !== 'PUBLISHED') await this.publish(token, songId, song);
      if (song.offering && !existing?.market?.offering) await this.offer(token, songId, song);
    }
  }

  /** Uploads the generated audio through its signed URL and publishes it (catalog reads its duration from the bytes). */
  private async publish(token: string, songId: string, song: DemoSong): Promise<void> {
    this.options.signal?.throwIfAborted();
    const audio = tuneWav(song.tune);
    const { requestSongUpload } = await this.api.data(RequestSongUploadDocument, { songId, contentType: 'audio/wav', byteSize: audio.length }, token);
    const uploaded = await fetch(new URL(requestSongUpload.uploadUrl, this.gatewayOrigin), {
      method: 'PUT',
      headers: { 'content-type': 'audio/wav' },
      body: new Uint8Array(audio),
    });
    if (!uploaded.ok) throw new Error(`uploading "${song.title}" answered ${uploaded.status}: ${await uploaded.text()}`);
    await this.api.data(PublishSongDocument, { songId }, token);
    this.made.songs++;
  }

  /** Opens the offering once ownership has learnt of the song (it hears of it from catalog). */
  private async offer(token: string, songId: string, song: DemoSong): Promise<void> {
    const input = { songId, ...song.offering! };
    await untilSettled(() => this.api.data(CreateShareOfferingDocument, { input }, token), ['NOT_FOUND'], this.settleMs, this.options.signal);
    this.made.offerings++;
  }

  fanToken(): Promise<string> {
    return this.account(demoFan.email, demoFan.displayName, 'FAN');
  }

  listenerToken(email: string, displayName: string): Promise<string> {
    return this.account(email, displayName, 'FAN');
  }

  countListen(): void {
    this.made.listens++;
  }

  /** The demo fan, funded by one card deposit (paid by the local Stripe stand-in) unless one already succeeded. */
  async fan(): Promise<void> {
    const token = await this.account(demoFan.email, demoFan.displayName, 'FAN');
    if (!this.options.fundFan) return;
    const payments = (await this.api.data(MyPaymentsDocument, {}, token)).me?.payments?.edges.map((e) => e.node) ?? [];
    if (payments.some((p) => p.kind === 'DEPOSIT' && p.status === 'SUCCEEDED')) return;
    await this.api.data(CreateDepositDocument, { amountCents: demoFan.depositCents, method: 'CARD' }, token);
    const deadline = Date.now() + this.settleMs;
    for (;;) {
      this.options.signal?.throwIfAborted();
      const cash = (await this.api.data(PortfolioDocument, {}, token)).me?.tradingAccount?.cashCents ?? 0;
      if (cash >= demoFan.depositCents) break;
      if (Date.now() > deadline) throw new Error(`the demo fan's card deposit was not credited to their trading account within ${this.settleMs} ms`);
      await sleep(250);
    }
    this.made.depositedCents = demoFan.depositCents;
  }
}

/** A commitment nobody holds the secrets of: the demo listens' vouchers are never claimed. */
function unclaimableCommitment(): string {
  // 31 random bytes stay below the BN254 field's modulus.
  return BigInt(`0x${randomBytes(31).toString('hex')}`).toString();
}

/**
 * Plays the demo songs in real time, as the web player does (a session, heartbeats at the pool's
 * interval, completion once the pool's minimum is credited), so trending ranks them. Each song is
 * given to the listeners with the fewest plays so far; a listener plays theirs in turn (one open
 * session each), all listeners at once. Skipped when trending already lists songs.
 */
async function playDemoListens(seeder: DemoSeeder, api: OperationClient, signal?: AbortSignal): Promise<void> {
  if ((await api.data(TrendingSongsDocument, { first: 1 })).trendingSongs.length > 0) return;
  const tokens = [await seeder.fanToken(), ...(await Promise.all(demoListeners.map((l) => seeder.listenerToken(l.email, l.displayName))))];
  const queues: string[][] = tokens.map(() => []);
  for (const [title, count] of Object.entries(demoPlays).sort((a, b) => b[1] - a[1])) {
    const song = (await api.data(SearchSongsDocument, { query: title, first: 1 })).searchSongs.edges[0]?.node;
    if (!song || song.title !== title) continue;
    const emptiest = queues.map((queue, i) => ({ queue, i })).sort((a, b) => a.queue.length - b.queue.length || a.i - b.i);
    for (const { queue } of emptiest.slice(0, count)) queue.push(song.id);
  }
  const { rewardPool } = await api.data(RewardPoolDocument, {});
  await Promise.all(
    queues.map(async (songIds, i) => {
      for (const songId of songIds) {
        await playOnce(api, tokens[i]!, songId, rewardPool, signal);
        seeder.countListen();
      }
    }),
  );
}

async function playOnce(
  api: OperationClient,
  token: string,
  songId: string,
  pool: { minListenSeconds: number; heartbeatIntervalSeconds: number },
  signal?: AbortSignal,
): Promise<void> {
  const { startListenSession } = await api.data(StartListenSessionDocument, { songId }, token);
  const needed = Math.min(pool.minListenSeconds, startListenSession.song.durationSeconds ?? pool.minListenSeconds);
  const started = Date.now();
  for (;;) {
    signal?.throwIfAborted();
    const elapsed = (Date.now() - started) / 1000;
    if (elapsed >= needed) break;
    await sleep(Math.min(pool.heartbeatIntervalSeconds * 500, (needed - elapsed) * 1000 + 50));
    const position = Math.min(needed, Math.floor((Date.now() - started) / 1000));
    await api.data(ListenHeartbeatDocument, { sessionId: startListenSession.id, positionSeconds: position }, token);
  }
  await api.data(CompleteListenSessionDocument, { sessionId: startListenSession.id, commitment: unclaimableCommitment() }, token);
}

/** Where the marker of a completed seed is kept, naming the database it was made in. */
export function demoSeedMarkerPath(dataDir: string): string {
  return join(dataDir, 'demo-seeded.json');
}

/** The database a URL names, without its credentials. */
function databaseOf(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${url.hostname}:${url.port || 5432}${url.pathname}`;
}

/**
 * Makes sure the demo content exists in the database behind the gateway. Resolves true when it
 * seeded (or finished seeding), false when the marker says it was done; throws what went wrong.
 */
export async function seedDemoContent(options: SeedOptions & { dataDir: string; databaseUrl: string }): Promise<boolean> {
  const marker = demoSeedMarkerPath(options.dataDir);
  const database = databaseOf(options.databaseUrl);
  if (existsSync(marker) && (JSON.parse(await readFile(marker, 'utf8')) as { database?: string }).database === database) return false;
  const started = Date.now();
  const seeder = new DemoSeeder(options);
  for (const artist of demoArtists) await seeder.artist(artist);
  await seeder.fan();
  await playDemoListens(seeder, operationClient(options.graphqlUrl), options.signal);
  await writeFile(marker, `${JSON.stringify({ database, seededAt: new Date().toISOString() }, null, 2)}\n`);
  options.log.info({ ...seeder.made, ms: Date.now() - started }, 'demo content ready');
  return true;
}
