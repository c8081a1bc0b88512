// The demo seed's own rules, without a running product: a failure is logged and never thrown, a
// marker naming the database skips it, and the songs are real WAV audio of the tune's length.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@vibestream/platform';
import { demoArtists } from '../scripts/demo/content.ts';
import { startDemoSeed } from '../scripts/demo/launch.ts';
import { SAMPLE_RATE, tuneWav } from '../scripts/demo/music.ts';
import { demoSeedMarkerPath, seedDemoContent } from '../scripts/demo/seed.ts';

/** Nothing listens on port 9 (discard): every request to it fails at once. */
const UNREACHABLE = 'http://127.0.0.1:9/graphql';
const DATABASE_URL = 'postgres://postgres:secret@127.0.0.1:54329/vibestream';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vs-demo-seed-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function capturedLogger() {
  const lines: { level: number; msg: string; err?: string }[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
  });
  return { log: createLogger('demo-seed-test', 'debug', { destination, format: 'json' }), lines };
}

describe('demo seed', () => {
  it('logs a failure clearly and never throws: start-up goes on without the demo content', async () => {
    const { log, lines } = capturedLogger();
    const run = startDemoSeed({ graphqlUrl: UNREACHABLE, dataDir, databaseUrl: DATABASE_URL, fundFan: true, log });
    await expect(run.done).resolves.toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 50, msg: expect.stringContaining('demo content could not be seeded'), err: expect.any(String) }),
    );
  });

  it('does nothing once the marker names this database, and seeds again for another one', async () => {
    await writeFile(demoSeedMarkerPath(dataDir), JSON.stringify({ database: '127.0.0.1:54329/vibestream' }));
    const { log } = capturedLogger();
    // With the marker nothing is asked of the (unreachable) gateway.
    expect(await seedDemoContent({ graphqlUrl: UNREACHABLE, dataDir, databaseUrl: DATABASE_URL, fundFan: true, log })).toBe(false);
    await expect(
      seedDemoContent({ graphqlUrl: UNREACHABLE, dataDir, databaseUrl: 'postgres://postgres@db.internal:5432/other', fundFan: true, log }),
    ).rejects.toThrow();
  });

  it('makes each demo song a mono 16-bit WAV as long as its tune', () => {
    for (const song of demoArtists.flatMap((a) => a.songs)) {
      const wav = tuneWav(song.tune);
      expect(wav.toString('latin1', 0, 4) + wav.toString('latin1', 8, 12)).toBe('RIFFWAVE');
      expect(wav.readUInt16LE(22)).toBe(1);
      expect(wav.readUInt32LE(24)).toBe(SAMPLE_RATE);
      const seconds = wav.readUInt32LE(40) / 2 / SAMPLE_RATE;
      const bars = song.tune.chords.length * song.tune.repeats;
      expect(seconds).toBeCloseTo((bars * 4 * 60) / song.tune.bpm + 1, 1);
      // Under 30 s: a whole-song listen earns a voucher with the default MIN_LISTEN_SECONDS.
      expect(seconds).toBeLessThan(30);
    }
  });
});
