import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemStorage } from '../src/storage/filesystem.ts';
import { S3Storage } from '../src/storage/s3.ts';
import type { MediaStorage } from '../src/storage/storage.ts';

const MB = 1024 * 1024;
const CONTENT_TYPE = 'audio/wav';

/** The byte at absolute `offset` of every test body: deterministic, and not periodic over any small stride. */
function pattern(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const n = offset + i;
    out[i] = (Math.imul(n, 2654435761) >>> 24) ^ (n >>> 16) ^ (n & 0xff);
  }
  return out;
}

/**
 * A body that really streams: a generator yields it chunk by chunk, each after a turn of the event loop,
 * so no adapter can see its length up front. With `failAt`, the generator throws once it reaches that offset.
 */
function streamedBody(size: number, options: { chunkSize?: number; failAt?: number } = {}): Readable {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  async function* generate(): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < size; offset += chunkSize) {
      if (options.failAt !== undefined && offset >= options.failAt) throw new Error('the upstream body broke off');
      await tick();
      yield pattern(offset, Math.min(chunkSize, size - offset));
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

function sha256Of(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

/** sha256 of bytes [0, size) of the pattern, without holding them all at once. */
function expectedSha256(size: number): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += MB) hash.update(pattern(offset, Math.min(MB, size - offset)));
  return hash.digest('hex');
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Reads a whole object; rejects when there is none, whether the adapter rejects up front or its stream errors. */
async function readAll(storage: MediaStorage, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  return collect(await storage.read(key, range));
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

interface Adapter {
  name: string;
  start(): Promise<MediaStorage>;
  stop(): Promise<void>;
  /** Leftovers of unfinished writes (temporary files), where the adapter can have any. */
  strays(): Promise<string[]>;
  /** For S3: how many UploadPart requests the server saw for `key`, to prove a large put went multipart. */
  partsUploaded?(key: string): number;
  /** Whether the store honours `Range: bytes=0-0` (s3rver 3.7.1 takes an end of 0 as "to the end"). */
  rangeEndingAtZero: boolean;
}

function filesystemAdapter(): Adapter {
  let dir = '';
  return {
    name: 'FilesystemStorage',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'vibestream-media-'));
      return new FilesystemStorage(dir);
    },
    async stop() {
      await rm(dir, { recursive: true, force: true });
    },
    async strays() {
      return (await filesUnder(dir)).filter((file) => file.endsWith('.part'));
    },
    rangeEndingAtZero: true,
  };
}

function s3Adapter(): Adapter {
  const bucket = 'vibestream-media';
  let dir = '';
  let server: S3rver | undefined;
  const requests: string[] = [];
  return {
    name: 'S3Storage (s3rver)',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'vibestream-s3rver-'));
      server = new S3rver({
        address: '127.0.0.1',
        port: 0,
        directory: dir,
        silent: true,
        configureBuckets: [{ name: bucket }],
      });
      const { port } = await server.run();
      server.httpServer?.on('request', (req: IncomingMessage) => requests.push(`${req.method} ${req.url}`));
      return new S3Storage({
        bucket,
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${port}`,
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        forcePathStyle: true,
      });
    },
    async stop() {
      if (server?.httpServer) {
        // The SDK keeps sockets alive; drop them so close() does not wait on them.
        server.httpServer.closeAllConnections();
        await server.close();
      }
      await rm(dir, { recursive: true, force: true });
    },
    async strays() {
      return [];
    },
    partsUploaded(key) {
      return requests.filter((request) => request.startsWith(`PUT /${bucket}/${key}?`) && /[?&]partNumber=\d+/.test(request)).length;
    },
    // s3rver parses `bytes=0-0` with `end || Infinity` and answers the whole object; real S3 and MinIO answer one byte.
    rangeEndingAtZero: false,
  };
}

describe.each([filesystemAdapter(), s3Adapter()])('MediaStorage contract: $name', (adapter) => {
  let storage: MediaStorage;
  let counter = 0;
  const newKey = (name: string) => `songs/${++counter}-${name}/original.wav`;

  beforeAll(async () => {
    storage = await adapter.start();
  });

  afterAll(async () => {
    await adapter.stop();
  });

  it('puts a streamed body and reports its byte count and a non-empty etag', async () => {
    const size = 300_001;
    const stored = await storage.put(newKey('small'), streamedBody(size), CONTENT_TYPE);
    expect(stored.bytes).toBe(size);
    expect(typeof stored.etag).toBe('string');
    expect(stored.etag.length).toBeGreaterThan(0);
  });

  it('gives different etags to different contents', async () => {
    const a = await storage.put(newKey('etag-a'), streamedBody(1000), CONTENT_TYPE);
    const b = await storage.put(newKey('etag-b'), streamedBody(1001), CONTENT_TYPE);
    expect(a.etag).not.toBe(b.etag);
  });

  it('sizes a present key, and a missing key as null', async () => {
    const key = newKey('sized');
    await storage.put(key, streamedBody(123_457), CONTENT_TYPE);
    expect(await storage.size(key)).toBe(123_457);
    expect(await storage.size(newKey('never-written'))).toBeNull();
  });

  it('reads back the whole object exactly as written', async () => {
    const key = newKey('whole');
    const size = 200_003;
    await storage.put(key, streamedBody(size, { chunkSize: 7_919 }), CONTENT_TYPE);
    const read = await readAll(storage, key);
    expect(read.length).toBe(size);
    expect(read.equals(pattern(0, size))).toBe(true);
  });

  it('reads exactly the bytes of an inclusive range', async () => {
    const key = newKey('ranged');
    const size = 100_000;
    await storage.put(key, streamedBody(size), CONTENT_TYPE);
    for (const range of [
      ...(adapter.rangeEndingAtZero ? [{ start: 0, end: 0 }] : []),
      { start: 0, end: 1 },
      { start: 0, end: 99 },
      { start: 65_530, end: 65_545 }, // across the generator's chunk boundary
      { start: 12_345, end: 67_890 },
      { start: size - 1, end: size - 1 },
      { start: size - 10, end: size - 1 },
    ]) {
      const read = await readAll(storage, key, range);
      expect(read.length, `range ${range.start}-${range.end}`).toBe(range.end - range.start + 1);
      expect(read.equals(pattern(range.start, range.end - range.start + 1)), `range ${range.start}-${range.end}`).toBe(true);
    }
  });

  it('overwrites an existing key', async () => {
    const key = newKey('overwritten');
    await storage.put(key, streamedBody(50_000), CONTENT_TYPE);
    await storage.put(key, streamedBody(40_000, { chunkSize: 1_000 }), CONTENT_TYPE);
    expect(await storage.size(key)).toBe(40_000);
    expect((await readAll(storage, key)).equals(pattern(0, 40_000))).toBe(true);
  });

  it('removes an object: then its size is null and it cannot be read; removing again is harmless', async () => {
    const key = newKey('removed');
    await storage.put(key, streamedBody(10_000), CONTENT_TYPE);
    expect(await storage.size(key)).toBe(10_000);
    await storage.remove(key);
    expect(await storage.size(key)).toBeNull();
    await expect(readAll(storage, key)).rejects.toThrow();
    await expect(storage.remove(key)).resolves.toBeUndefined();
  });

  it('streams a large body (multipart for S3) and reads it back intact', async () => {
    const key = newKey('large');
    const size = 12 * MB + 12_345; // above lib-storage's 8 MB part size: two parts
    const stored = await storage.put(key, streamedBody(size, { chunkSize: 256 * 1024 }), CONTENT_TYPE);
    expect(stored.bytes).toBe(size);
    expect(stored.etag.length).toBeGreaterThan(0);
    expect(await storage.size(key)).toBe(size);
    if (adapter.partsUploaded) expect(adapter.partsUploaded(key)).toBe(2);

    const read = await hashStream(await storage.read(key));
    expect(read.bytes).toBe(size);
    expect(read.sha256).toBe(expectedSha256(size));

    // A range across the first part boundary.
    const range = { start: 8 * MB - 1_000, end: 8 * MB + 1_000 };
    const slice = await readAll(storage, key, range);
    expect(sha256Of(slice)).toBe(sha256Of(pattern(range.start, range.end - range.start + 1)));
  });

  it('rejects a put whose body errors midway, and leaves nothing readable at the key', async () => {
    const key = newKey('broken-small');
    await expect(storage.put(key, streamedBody(500_000, { failAt: 200_000 }), CONTENT_TYPE)).rejects.toThrow(/broke off/);
    expect(await storage.size(key)).toBeNull();
    await expect(readAll(storage, key)).rejects.toThrow();
    expect(await adapter.strays()).toEqual([]);
  });

  it('rejects a put whose body errors before its first byte, and leaves nothing behind', async () => {
    const key = newKey('broken-at-once');
    await expect(storage.put(key, streamedBody(500_000, { failAt: 0 }), CONTENT_TYPE)).rejects.toThrow(/broke off/);
    expect(await storage.size(key)).toBeNull();
    await expect(readAll(storage, key)).rejects.toThrow();
    expect(await adapter.strays()).toEqual([]);
  });

  it('rejects a large put whose body errors after the first part, and leaves nothing readable at the key', async () => {
    const key = newKey('broken-large');
    await expect(storage.put(key, streamedBody(12 * MB, { chunkSize: 256 * 1024, failAt: 9 * MB }), CONTENT_TYPE)).rejects.toThrow();
    expect(await storage.size(key)).toBeNull();
    await expect(readAll(storage, key)).rejects.toThrow();
    expect(await adapter.strays()).toEqual([]);
  });

  it('keeps the previous object when a put over it fails', async () => {
    const key = newKey('kept');
    await storage.put(key, streamedBody(30_000), CONTENT_TYPE);
    await expect(storage.put(key, streamedBody(90_000, { failAt: 60_000 }), CONTENT_TYPE)).rejects.toThrow();
    expect(await storage.size(key)).toBe(30_000);
    expect((await readAll(storage, key)).equals(pattern(0, 30_000))).toBe(true);
    expect(await adapter.strays()).toEqual([]);
  });
});

describe('FilesystemStorage confinement', () => {
  let parent = '';
  let root = '';
  let storage: FilesystemStorage;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'vibestream-media-jail-'));
    root = join(parent, 'media');
    await mkdir(root);
    storage = new FilesystemStorage(root);
  });

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  // `<parent>` stands for the temporary parent directory, known only once the suite has started.
  it.each(['../x', 'songs/../../x', '<parent>/x', '../media-sibling/x', '', '.', 'songs/..'])('refuses the key %j', async (template) => {
    const key = template.replace('<parent>', parent);
    await expect(storage.put(key, streamedBody(1_000), CONTENT_TYPE)).rejects.toThrow(/escapes/);
    await expect(storage.read(key)).rejects.toThrow(/escapes/);
    await expect(storage.remove(key)).rejects.toThrow(/escapes/);
    expect(await storage.size(key)).toBeNull();
    expect(await exists(join(parent, 'x'))).toBe(false);
    expect(await filesUnder(parent)).toEqual([]);
  });

  it('still accepts keys that merely contain dots', async () => {
    const key = 'songs/..hidden/a..b.wav';
    await storage.put(key, streamedBody(1_000), CONTENT_TYPE);
    expect(await storage.size(key)).toBe(1_000);
    expect(await filesUnder(parent)).toEqual([join('media', key)]);
  });
});
