/**
 * Catalog benchmark (`npm run bench:catalog`). The identity subgraph, the catalog subgraph and our
 * gateway each run in their own child process (server.ts); the load and the transfers come from
 * this process. Over a generated catalog of published songs (data.ts) it prints, in one run:
 *
 *  1. searchSongs through the gateway (first: 20 with artist and album) for a mix of queries
 *     (eight each of one word, several words, a typo, an artist's name, a genre: 40 distinct
 *     queries, so the gateway's merging of identical in-flight queries hardly applies) at N
 *     connections with autocannon: req/s, p50, p99, CPU per process, SQL statements per request,
 *     and each kind's latency one request at a time. Every response must be the exact answer
 *     its query gave before the run: any other (an error, non-2xx, other data) is counted and
 *     fails the run.
 *  2. SQL statements per request, counted in the catalog process, for searchSongs with first 10
 *     and first 100 (artist and album included): both numbers and whether they are equal.
 *  3. Streaming: a generated WAV (200 MB by default, produced chunk by chunk, never whole in
 *     memory) uploaded with HTTP PUT through the gateway to a requestSongUpload URL, then read
 *     back with a Range request and a full GET: MB/s each, and the peak RSS growth of the
 *     gateway and catalog processes (and of this one) during each transfer. Every byte read back
 *     is compared with what was sent.
 *
 * Options (flag or environment variable):
 *   --duration=S      BENCH_DURATION     seconds of measured search load (10)
 *   --warmup=S        BENCH_WARMUP       seconds of warm-up load before it (3)
 *   --connections=N   BENCH_CONNECTIONS  concurrent connections (10)
 *   --songs=N         BENCH_SONGS        published songs generated (100000)
 *   --upload-mb=N     BENCH_UPLOAD_MB    size of the uploaded WAV in MB of 10^6 bytes (200)
 *   --json=FILE       BENCH_JSON         also write the results as JSON
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { composeSupergraph, createInfra, createLogger } from '@vibestream/platform';
import { freePort, publishEvent } from '@vibestream/testkit';
import { EntitlementsChanged } from '@vibestream/payments/events';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { WAV_HEADER_BYTES, wavHeader } from '@vibestream/catalog/wav';
import { startChild } from '../lib/children.ts';
import { fmt, median, pct, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds, RssWatch } from '../lib/proc.ts';
import { generateCatalog } from './data.ts';
import type { Role, StatementLog } from './server.ts';

const here = dirname(fileURLToPath(import.meta.url));

const SEARCH = `query SearchSongs($query: String!, $first: Int) {
  searchSongs(query: $query, first: $first) { totalCount edges { node { id title artist { name } album { title } } } pageInfo { hasNextPage endCursor } } }`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    songs: { type: 'string' },
    'upload-mb': { type: 'string' },
    json: { type: 'string' },
  },
});

const options = {
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 10, 1),
  warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 3, 0),
  connections: Math.round(numberOption(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10, 1)),
  songs: Math.round(numberOption(flags.songs, 'songs', 'BENCH_SONGS', 100_000, 1000)),
  uploadMb: numberOption(flags['upload-mb'], 'upload-mb', 'BENCH_UPLOAD_MB', 200, 1),
  json: flags.json ?? process.env.BENCH_JSON,
};
if (options.uploadMb * 1e6 > 2 ** 31 - 1) throw new Error('--upload-mb is at most 2147 (requestSongUpload takes an Int of bytes)');

const MB = 1e6;
const FIRST = 20;

interface SearchResult {
  data?: { searchSongs: { totalCount: number; edges: { node: { id: string; title: string; artist: { name: string }; album: { title: string } | null } }[] } };
  errors?: unknown[];
}

// ---------------------------------------------------------------------------------------------
// 1. Search load

interface SearchQuery {
  kind: string;
  query: string;
  /** The exact answer before the run, which every answer during it must equal. */
  expected: string;
  totalCount: number;
}

function searchBody(query: string, first: number): string {
  return JSON.stringify({ query: SEARCH, variables: { query, first }, operationName: 'SearchSongs' });
}

async function checkedSearch(url: string, query: string, first: number): Promise<{ text: string; result: NonNullable<SearchResult['data']> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: searchBody(query, first) });
  const text = await response.text();
  const body = JSON.parse(text) as SearchResult;
  if (response.status !== 200 || body.errors || !body.data)
    throw new Error(`searchSongs(${JSON.stringify(query)}, first: ${first}) answered ${response.status} ${text.slice(0, 500)}`);
  const { totalCount, edges } = body.data.searchSongs;
  if (edges.length !== Math.min(first, totalCount))
    throw new Error(`searchSongs(${JSON.stringify(query)}) gave ${edges.length} of ${totalCount} songs for first: ${first}`);
  if (edges.some((e) => !e.node.artist?.name)) throw new Error(`searchSongs(${JSON.stringify(query)}): a song without its artist`);
  return { text, result: body.data };
}

interface LoadMeasurement {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Responses that were GraphQL errors. */
  graphqlErrors: number;
  /** Everything else wrong: connection errors, timeouts, non-2xx, other bodies. */
  otherBad: number;
  cpu: { gateway: number | null; catalog: number | null; identity: number | null; autocannon: number; rest: number | null };
}

async function searchLoad(
  url: string,
  queries: SearchQuery[],
  seconds: number,
  pids: { gateway: number; catalog: number; identity: number },
): Promise<LoadMeasurement> {
  const bodies = queries.map((q) => searchBody(q.query, FIRST));
  const valid = new Set(queries.map((q) => q.expected));
  let next = 0;
  let graphqlErrors = 0;
  const wallStart = process.hrtime.bigint();
  const cpuStart = { gateway: cpuSeconds(pids.gateway), catalog: cpuSeconds(pids.catalog), identity: cpuSeconds(pids.identity), machine: machineBusySeconds() };
  const loadStart = process.cpuUsage();
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: bodies[0]!,
    connections: options.connections,
    duration: seconds,
    timeout: 10,
    // The queries in turn, request by request, on every connection.
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! }) }],
    verifyBody: (text: string) => {
      if (valid.has(text)) return true;
      if (text.includes('"errors"')) graphqlErrors++;
      return false;
    },
  });
  const loadUsage = process.cpuUsage(loadStart);
  const wall = Number(process.hrtime.bigint() - wallStart) / 1e9;
  const rate = (start: number | null, end: number | null) => (start === null || end === null ? null : (end - start) / wall);
  const gateway = rate(cpuStart.gateway, cpuSeconds(pids.gateway));
  const catalog = rate(cpuStart.catalog, cpuSeconds(pids.catalog));
  const identity = rate(cpuStart.identity, cpuSeconds(pids.identity));
  const machine = rate(cpuStart.machine, machineBusySeconds());
  const autocannonCpu = (loadUsage.user + loadUsage.system) / 1e6 / wall;
  const bad = result.errors + result.timeouts + result.non2xx + result.mismatches;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    graphqlErrors,
    otherBad: bad - graphqlErrors,
    cpu: {
      gateway,
      catalog,
      identity,
      autocannon: autocannonCpu,
      rest: machine === null ? null : Math.max(0, machine - (gateway ?? 0) - (catalog ?? 0) - (identity ?? 0) - autocannonCpu),
    },
  };
}

/** Latency of one query on its own (ms). */
async function sequentialLatency(url: string, query: string): Promise<number> {
  const started = performance.now();
  await checkedSearch(url, query, FIRST);
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// 3. Streaming: a WAV made chunk by chunk

const SAMPLE_RATE = 44_100;
const HEADER_BYTES = WAV_HEADER_BYTES;
/** One period of the tone: 2^18 stereo 16-bit frames (1 MiB), a whole number (2615) of cycles, ~440 Hz. */
const PERIOD_FRAMES = 2 ** 18;
const PATTERN = (() => {
  const buf = Buffer.alloc(PERIOD_FRAMES * 4);
  for (let f = 0; f < PERIOD_FRAMES; f++) {
    const v = Math.round(Math.sin((2 * Math.PI * 2615 * f) / PERIOD_FRAMES) * 12_000);
    buf.writeInt16LE(v, f * 4);
    buf.writeInt16LE(v, f * 4 + 2);
  }
  return buf;
})();

/** The header of the streamed stereo WAV of `totalBytes`. */
const streamedWavHeader = (totalBytes: number) => wavHeader(totalBytes - HEADER_BYTES, SAMPLE_RATE, 2);

/** The WAV body, `chunkBytes` at a time: slices of one 1 MiB period, so at most a chunk or two exist at once. */
async function* wavChunks(totalBytes: number, chunkBytes = 256 * 1024): AsyncGenerator<Buffer> {
  yield streamedWavHeader(totalBytes);
  for (let offset = HEADER_BYTES; offset < totalBytes;) {
    const at = (offset - HEADER_BYTES) % PATTERN.length;
    const n = Math.min(chunkBytes, PATTERN.length - at, totalBytes - offset);
    yield PATTERN.subarray(at, at + n);
    offset += n;
  }
}

/** Whether `chunk`, found at byte `offset` of the body, is what wavChunks sent there. */
function matchesSent(chunk: Buffer, offset: number, header: Buffer): boolean {
  let i = 0;
  while (i < chunk.length) {
    const at = offset + i;
    if (at < HEADER_BYTES) {
      const n = Math.min(chunk.length - i, HEADER_BYTES - at);
      if (!chunk.subarray(i, i + n).equals(header.subarray(at, at + n))) return false;
      i += n;
    } else {
      const p = (at - HEADER_BYTES) % PATTERN.length;
      const n = Math.min(chunk.length - i, PATTERN.length - p);
      if (!chunk.subarray(i, i + n).equals(PATTERN.subarray(p, p + n))) return false;
      i += n;
    }
  }
  return true;
}

interface Transfer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Body bytes sent (PUT) or received (GET). */
  bytes: number;
  seconds: number;
  /** The response text (PUT) or whether every byte matched (GET). */
  text: string;
  matched: boolean;
}

function put(url: string, totalBytes: number, contentType: string): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let sent = 0;
    const body = Readable.from(
      (async function* () {
        for await (const chunk of wavChunks(totalBytes)) {
          sent += chunk.length;
          yield chunk;
        }
      })(),
      { objectMode: false, highWaterMark: 1024 * 1024 },
    );
    const req = httpRequest(url, { method: 'PUT', headers: { 'content-type': contentType, 'content-length': String(totalBytes) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes: sent,
          seconds: (performance.now() - started) / 1000,
          text: Buffer.concat(chunks).toString(),
          matched: true,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

function get(url: string, headers: Record<string, string>, firstByte: number, header: Buffer): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(url, { method: 'GET', headers }, (res) => {
      let bytes = 0;
      let matched = true;
      res.on('data', (chunk: Buffer) => {
        if (matched && !matchesSent(chunk, firstByte + bytes, header)) matched = false;
        bytes += chunk.length;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, seconds: (performance.now() - started) / 1000, text: '', matched }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface TransferReport {
  what: string;
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  rss: Record<string, { startMb: number; peakGrowthMb: number }>;
  cpu: Record<string, number | null>;
}

/** Runs one transfer while watching the RSS and CPU of the gateway, the catalog and this process. */
async function watched(what: string, pids: Record<string, number>, run: () => Promise<Transfer>): Promise<{ transfer: Transfer; report: TransferReport }> {
  const entries = Object.entries(pids);
  const cpuStart = entries.map(([, pid]) => cpuSeconds(pid));
  const watch = new RssWatch(entries.map(([, pid]) => pid));
  const transfer = await run();
  const rss = watch.stop();
  const cpuEnd = entries.map(([, pid]) => cpuSeconds(pid));
  const report: TransferReport = {
    what,
    bytes: transfer.bytes,
    seconds: transfer.seconds,
    mbPerSecond: transfer.bytes / MB / transfer.seconds,
    rss: Object.fromEntries(entries.map(([name, pid]) => [name, { startMb: rss.get(pid)!.startBytes / MB, peakGrowthMb: rss.get(pid)!.growthBytes / MB }])),
    cpu: Object.fromEntries(
      entries.map(([name], i) => [name, cpuStart[i] === null || cpuEnd[i] === null ? null : (cpuEnd[i]! - cpuStart[i]!) / transfer.seconds]),
    ),
  };
  return { transfer, report };
}

function printTransfer(r: TransferReport): void {
  console.log(`${r.what}: ${fmt(r.bytes / MB, 1)} MB in ${fmt(r.seconds, 2)} s = ${fmt(r.mbPerSecond, 1)} MB/s`);
  const parts = Object.entries(r.rss).map(([name, m]) => `${name} +${fmt(m.peakGrowthMb, 1)} MB (from ${fmt(m.startMb, 0)} MB)`);
  console.log(`  peak RSS growth: ${parts.join(', ')}`);
  console.log(
    `  CPU: ${Object.entries(r.cpu)
      .map(([name, c]) => `${name} ${pct(c)}`)
      .join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------------------

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

async function main(): Promise<number> {
  const uploadBytes = Math.round(options.uploadMb * MB);
  console.log(
    `catalog bench: ${fmt(options.songs)} published songs; searchSongs (first: ${FIRST}) at ${options.connections} connections, ` +
      `${options.warmup} s warm-up + ${options.duration} s; ${fmt(uploadBytes / MB)} MB upload; node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );

  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-media-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const gatewayPort = await freePort();
  const publicUrl = `http://127.0.0.1:${gatewayPort}`;
  const { env, database } = await benchEnv('benchcat', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    NODE_ENV: 'test',
    PUBLIC_URL: publicUrl,
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: randomBytes(32).toString('hex'),
  });

  const script = join(here, 'server.ts');
  const [identity, catalog] = await Promise.all([
    startChild<Role>(script, { role: 'identity', env }),
    // The relay polls only when kicked, so the statement count sees only the requests' own SQL (as in the catalog tests).
    startChild<Role>(script, { role: 'catalog', env: { ...env, OUTBOX_RELAY_INTERVAL_MS: '600000' } }),
  ]);
  const urls = new Map([
    [identitySubgraph.name, identity.url],
    [catalogSubgraph.name, catalog.url],
  ]);
  const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph], (m) => urls.get(m.name)!);
  const gateway = await startChild<Role>(script, { role: 'gateway', env, supergraphSdl: supergraph, port: gatewayPort });
  const url = gateway.url;

  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  onCleanup(() => db.end());
  const artists = Math.max(10, Math.round(options.songs / 50));
  const generated = await generateCatalog(db, { songs: options.songs, artists, albumsPerArtist: 5 });
  console.log(
    `generated ${fmt(generated.artists)} artists, ${fmt(generated.albums)} albums, ${fmt(generated.songs)} published songs in ${fmt(generated.seconds, 1)} s ` +
      `(VACUUM ANALYZE ${fmt(generated.analyzeSeconds, 1)} s)`,
  );

  // ------------------------------------------------------------------ 1. searchSongs under load
  // Several queries of each kind, taken in turn: our gateway merges identical subgraph queries in
  // flight, so with only a few distinct queries the catalog would do a fraction of the searches.
  const artistNames = (
    (await db.query(`select name from catalog.artists where id in (select md5('artist-' || n)::uuid from generate_series(1, 8) n) order by name`)).rows as {
      name: string;
    }[]
  ).map((r) => r.name);
  const mix: { kind: string; queries: string[] }[] = [
    { kind: 'one word', queries: ['midnight', 'river', 'horizon', 'gravity', 'lantern', 'ocean', 'thunder', 'paradise'] },
    {
      kind: 'several words',
      queries: ['golden river', 'neon dreams', 'broken heart', 'silent night', 'electric storm', 'crystal ocean', 'velvet sky', 'lonely highway'],
    },
    { kind: 'typo', queries: ['satelite', 'midnigth', 'hartbeat', 'symphny', 'paradice', 'thundr', 'waterfal', 'butterfy'] },
    { kind: 'artist name', queries: artistNames },
    { kind: 'genre', queries: ['synthwave', 'deep house', 'jazz', 'lo-fi', 'drum and bass', 'k-pop', 'ambient', 'hip hop'] },
  ];
  const queries: SearchQuery[] = [];
  // Interleaved by kind, so the connections always have every kind in flight.
  for (let i = 0; i < Math.max(...mix.map((m) => m.queries.length)); i++) {
    for (const m of mix) {
      const query = m.queries[i];
      if (query === undefined) continue;
      const { text, result } = await checkedSearch(url, query, FIRST);
      queries.push({ kind: m.kind, query, expected: text, totalCount: result.searchSongs.totalCount });
    }
  }

  for (const m of mix) {
    if (!queries.some((q) => q.kind === m.kind && q.totalCount > 0)) throw new Error(`no ${m.kind} query finds a song: the mix would not measure that kind`);
  }

  console.log('');
  console.log(`1. searchSongs through the gateway: ${queries.length} distinct queries, taken in turn request by request`);
  const pids = { gateway: gateway.pid, catalog: catalog.pid, identity: identity.pid };
  if (options.warmup > 0) await searchLoad(url, queries, options.warmup, pids);
  const statementsBefore = (await catalog.call<StatementLog>('statements')).count;
  const load = await searchLoad(url, queries, options.duration, pids);
  const loadStatements = (await catalog.call<StatementLog>('statements')).count - statementsBefore;
  const alone = new Map<string, number[]>();
  for (let run = 0; run < 3; run++) {
    for (const q of queries) alone.set(q.query, [...(alone.get(q.query) ?? []), await sequentialLatency(url, q.query)]);
  }

  console.log(
    table([
      ['kind', 'queries', 'songs found', 'alone p50 ms', 'alone max ms'],
      ...mix.map((m) => {
        const ofKind = queries.filter((q) => q.kind === m.kind);
        const counts = ofKind.map((q) => q.totalCount);
        const times = ofKind.flatMap((q) => alone.get(q.query)!);
        return [m.kind, fmt(ofKind.length), `${fmt(Math.min(...counts))}-${fmt(Math.max(...counts))}`, fmt(median(times), 1), fmt(Math.max(...times), 1)];
      }),
    ]),
  );
  for (const m of mix) {
    const ofKind = queries.filter((q) => q.kind === m.kind);
    console.log(`  ${m.kind}: ${ofKind.map((q) => `${JSON.stringify(q.query)} ${fmt(q.totalCount)}`).join(', ')}`);
  }
  console.log('("songs found" = totalCount; "alone" = each query 3 times, one request at a time, after the load)');
  console.log('');
  console.log(
    table([
      ['load (mix)', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'other bad', 'SQL/req', 'gateway CPU', 'catalog CPU', 'autocannon CPU', 'rest CPU'],
      [
        `${options.connections} connections, ${options.duration} s`,
        fmt(load.rps),
        fmt(load.p50),
        fmt(load.p99),
        fmt(load.requests),
        fmt(load.graphqlErrors),
        fmt(load.otherBad),
        load.requests ? fmt(loadStatements / load.requests, 2) : '-',
        pct(load.cpu.gateway),
        pct(load.cpu.catalog),
        pct(load.cpu.autocannon),
        pct(load.cpu.rest),
      ],
    ]),
  );
  console.log('(errors = GraphQL error responses; other bad = connection errors, timeouts, non-2xx or other data than before the run.');
  console.log(' SQL/req = statements the catalog ran during the load per request answered (under 4 when identical requests were merged).');
  console.log(' CPU = CPU seconds per wall second, 100% = one of the 2 cores; rest = PostgreSQL, Redis and anything else running)');

  // ------------------------------------------------------------------ 2. SQL statements per request
  console.log('');
  console.log('2. SQL statements per searchSongs request with artist and album, counted in the catalog process');
  const listed = queries.find((q) => q.totalCount >= 100 && q.kind === 'one word') ?? queries.find((q) => q.totalCount >= 100);
  if (!listed) throw new Error('no query of the mix finds 100 songs');
  await catalog.call('resetStatements');
  await new Promise((r) => setTimeout(r, 1000));
  const background = (await catalog.call<StatementLog>('statements')).count;
  const countFor = async (first: number) => {
    await catalog.call('resetStatements');
    const { result } = await checkedSearch(url, listed.query, first);
    const log = await catalog.call<StatementLog>('statements');
    const withAlbum = result.searchSongs.edges.filter((e) => e.node.album).length;
    return { first, songs: result.searchSongs.edges.length, withAlbum, statements: log.count, sql: log.sql };
  };
  const ten = await countFor(10);
  const hundred = await countFor(100);
  console.log(`background (1 s idle, nothing asked): ${background} statements`);
  for (const c of [ten, hundred]) {
    console.log(
      `searchSongs(${JSON.stringify(listed.query)}, first: ${c.first}): ${c.songs} songs (${c.withAlbum} with an album), ${c.statements} SQL statements`,
    );
  }
  const equal = ten.statements === hundred.statements;
  console.log(`equal: ${equal ? 'yes' : 'NO'} (${ten.statements} vs ${hundred.statements})`);
  console.log('statements of the first-100 request:');
  for (const sql of hundred.sql) console.log(`  ${sql.length > 110 ? `${sql.slice(0, 110)}...` : sql}`);

  // ------------------------------------------------------------------ 3. Streaming
  console.log('');
  console.log(`3. Streaming a ${fmt(uploadBytes / MB)} MB WAV (${fmt(uploadBytes)} bytes) through the gateway`);
  const email = `bench-artist-${randomBytes(4).toString('hex')}@example.com`;
  const registered = await gql<{ register: { accessToken: string; user: { id: string } } }>(
    url,
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
    { input: { email, password: 'a-long-password', displayName: 'Bench Artist', role: 'ARTIST' } },
  );
  const token = registered.register.accessToken;
  const userId = registered.register.user.id;
  await gql(url, `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`, { input: { name: 'Bench Streamer' } }, token);

  // A plan with room for the file, the way billing announces it (as the catalog tests do).
  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log: createLogger('bench', 'silent') });
  try {
    await publishEvent({ infra }, EntitlementsChanged, {
      userId,
      planId: 'STUDIO',
      entitlements: [
        { key: 'uploads.monthly', limit: 1000 },
        { key: 'storage.bytes', limit: null },
      ],
      changedAt: new Date().toISOString(),
    });
  } finally {
    await infra.close();
  }
  const deadline = Date.now() + 15_000;
  while (!(await db.query('select 1 from catalog.user_plans where user_id = $1', [userId])).rowCount) {
    if (Date.now() > deadline) throw new Error('the plan never reached the catalog');
    await new Promise((r) => setTimeout(r, 50));
  }

  const songId = (
    await gql<{ createSong: { id: string } }>(
      url,
      `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
      { input: { title: 'Long Take', genre: 'Ambient' } },
      token,
    )
  ).createSong.id;
  const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
    url,
    `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl } }`,
    { songId, contentType: 'audio/wav', byteSize: uploadBytes },
    token,
  );
  const memPids = { gateway: gateway.pid, catalog: catalog.pid, bench: process.pid };
  const upload = await watched('upload (PUT)', memPids, () => put(new URL(ticket.requestSongUpload.uploadUrl, url).toString(), uploadBytes, 'audio/wav'));
  if (upload.transfer.status !== 201) throw new Error(`upload answered ${upload.transfer.status}: ${upload.transfer.text}`);
  const stored = JSON.parse(upload.transfer.text) as { bytes: number };
  if (stored.bytes !== uploadBytes) throw new Error(`the catalog stored ${stored.bytes} bytes of ${uploadBytes}`);
  printTransfer(upload.report);

  const publishStarted = performance.now();
  const published = await gql<{ publishSong: { status: string; durationSeconds: number } }>(
    url,
    `mutation($songId: ID!) { publishSong(songId: $songId) { status durationSeconds } }`,
    { songId },
    token,
  );
  // Media URLs are relative to the gateway.
  const streamUrl = new URL(
    (await gql<{ song: { streamUrl: string } }>(url, `query($id: ID!) { song(id: $id) { streamUrl } }`, { id: songId })).song.streamUrl,
    url,
  ).toString();
  console.log(
    `publishSong (reads the stored audio's metadata): ${published.publishSong.status}, ${fmt(published.publishSong.durationSeconds)} s of audio, ` +
      `${fmt(performance.now() - publishStarted)} ms`,
  );

  const header = streamedWavHeader(uploadBytes);
  const rangeStart = Math.floor(uploadBytes / 4);
  const rangeEnd = Math.floor((uploadBytes * 3) / 4) - 1;
  const ranged = await watched(`Range GET bytes=${rangeStart}-${rangeEnd}`, memPids, () =>
    get(streamUrl, { range: `bytes=${rangeStart}-${rangeEnd}` }, rangeStart, header),
  );
  if (ranged.transfer.status !== 206 || ranged.transfer.headers['content-range'] !== `bytes ${rangeStart}-${rangeEnd}/${uploadBytes}`) {
    throw new Error(`the Range request answered ${ranged.transfer.status} ${ranged.transfer.headers['content-range']}`);
  }
  if (ranged.transfer.bytes !== rangeEnd - rangeStart + 1 || !ranged.transfer.matched) throw new Error('the Range request gave other bytes than were uploaded');
  printTransfer(ranged.report);

  const full = await watched('full GET', memPids, () => get(streamUrl, {}, 0, header));
  if (full.transfer.status !== 200 || full.transfer.bytes !== uploadBytes || !full.transfer.matched) {
    throw new Error(
      `the full GET answered ${full.transfer.status} with ${full.transfer.bytes} bytes${full.transfer.matched ? '' : ' that differ from the upload'}`,
    );
  }
  printTransfer(full.report);
  console.log('(every byte read back was compared with what was uploaded; bench = this process, which generates and checks the bytes)');

  if (options.json) {
    writeFileSync(
      options.json,
      JSON.stringify(
        {
          options,
          generated,
          search: {
            queries: queries.map((q) => ({ query: q.query, kind: q.kind, totalCount: q.totalCount, aloneMs: alone.get(q.query) })),
            load: { ...load, sqlStatementsPerRequest: load.requests ? loadStatements / load.requests : null },
          },
          sqlStatements: { query: listed.query, background, first10: ten.statements, first100: hundred.statements, equal },
          streaming: [upload.report, ranged.report, full.report],
        },
        null,
        2,
      ) + '\n',
    );
  }

  const failed = load.graphqlErrors > 0 || load.otherBad > 0;
  if (failed)
    console.error(`FAILED: ${load.graphqlErrors} error responses and ${load.otherBad} other wrong responses during the search load; the numbers do not count.`);
  return failed ? 1 : 0;
}

runBench(main);
