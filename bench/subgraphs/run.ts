/**
 * Subgraph benchmark (`npm run bench:subgraphs`): the CPU a subgraph process spends per request
 * on the subgraph fetches of four client operations, `Song`, `SongDetails`, `MyArtistSongs` and
 * `Portfolio` (clients/operations), as our gateway sends them.
 *
 * The identity, catalog and ownership subgraphs each run in their own child process (server.ts).
 * Straight to each subgraph (every seeding step is one subgraph's), N users sign up as artists, each makes an artist
 * profile, two published songs (uploaded WAVs) and three drafts and opens a share offering on
 * each published song; the users get a deposit (a payments.deposit.succeeded.v1 event on the
 * run's Redis prefix), buy shares of six other users' songs, trade a few shares with each other
 * (so the songs have a last trade price) and leave orders resting in the book.
 *
 * The subgraph fetches are the query plans' own: the four operations are planned against the
 * composed supergraph (@apollo/query-planner) and each fetch node's operation text is sent to its
 * subgraph, with the variables or representations the earlier fetches of the same plan answered
 * for that user (and song). Every fetch is sent once per user before the load and its answer
 * kept; under load every answer must equal one of them (stream URLs, signed with an expiry, are
 * compared without their value), otherwise the run fails (exit 1).
 *
 * Then each fetch (a row: operation / subgraph) is loaded alone with autocannon at C connections,
 * the users' tokens in turn request by request, with the headers the gateway sends (authorization,
 * x-request-id, x-forwarded-for, a sampled traceparent): req/s and the subgraph process's CPU
 * time per request (from /proc: utime + stime).
 *
 * With --compare=DIR, a second set of the three subgraphs runs the code of the checkout at DIR
 * (another commit, e.g. `git worktree add DIR <commit>`, or an export whose node_modules links to
 * this one's with @vibestream/* pointing into DIR) on the same database and data, and every row
 * is measured on both sets in turn (base, then this checkout) round by round: before/after in
 * one run.
 *
 * Options (flag or environment variable):
 *   --duration=S      BENCH_DURATION     seconds measured per row, set and round (5)
 *   --warmup=S        BENCH_WARMUP       warm-up per row and set before its first round (2)
 *   --connections=N   BENCH_CONNECTIONS  concurrent connections (10)
 *   --users=N         BENCH_USERS        distinct signed-in users (10)
 *   --rounds=N        BENCH_ROUNDS       rounds over all rows, medians reported (1)
 *   --rows=LIST       BENCH_ROWS         only these rows, e.g. Portfolio/ownership,Song (an operation name takes all its rows)
 *   --compare=DIR     BENCH_COMPARE      also measure the subgraphs of the checkout at DIR ("base"; DIR may be this one)
 *   --node-args=ARGS  BENCH_NODE_ARGS    Node flags of this checkout's subgraph processes (default: those run.ts got),
 *                                        e.g. --node-args=--experimental-async-context-frame
 *   --base-node-args=ARGS BENCH_BASE_NODE_ARGS  the same for the base set
 *   --cpu-prof=ROLES  BENCH_CPU_PROF     identity, catalog and/or ownership: a CPU profile of each measured
 *                                        stretch, per set, in bench/subgraphs/profiles/ (git-ignored)
 *   --json=FILE       BENCH_JSON         also write the results as JSON
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { parse } from 'graphql';
import pg from 'pg';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type PlanNode, type FetchNode } from '@apollo/query-planner';
import { composeSupergraph, createInfra, createLogger, newEnvelope } from '@vibestream/platform';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '@vibestream/ownership';
import { makeWav } from '@vibestream/catalog/testing';
import { startChild, type ChildServer } from '../lib/children.ts';
import { fmt, median, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import type { Role } from './server.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    users: { type: 'string' },
    rounds: { type: 'string' },
    rows: { type: 'string' },
    compare: { type: 'string' },
    'node-args': { type: 'string' },
    'base-node-args': { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
  },
});

const options = {
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 5, 1),
  warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 2, 0),
  connections: Math.round(numberOption(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10, 1)),
  users: Math.round(numberOption(flags.users, 'users', 'BENCH_USERS', 10, 2)),
  rounds: Math.round(numberOption(flags.rounds, 'rounds', 'BENCH_ROUNDS', 1, 1)),
  rows: (flags.rows ?? process.env.BENCH_ROWS ?? '').split(',').filter(Boolean),
  compare: flags.compare ?? process.env.BENCH_COMPARE,
  nodeArgs: flags['node-args'] ?? process.env.BENCH_NODE_ARGS,
  baseNodeArgs: flags['base-node-args'] ?? process.env.BENCH_BASE_NODE_ARGS,
  cpuProf: new Set((flags['cpu-prof'] ?? process.env.BENCH_CPU_PROF ?? '').split(',').filter(Boolean)),
  json: flags.json ?? process.env.BENCH_JSON,
};
if (options.users > 100) throw new Error('--users is at most 100');

const OPERATIONS = ['Song', 'SongDetails', 'MyArtistSongs', 'Portfolio'] as const;
type OperationName = (typeof OPERATIONS)[number];
type SubgraphRole = Role;
const SUBGRAPHS: SubgraphRole[] = ['identity', 'catalog', 'ownership'];

const PUBLISHED_PER_USER = 2;
const DRAFTS_PER_USER = 3;
const HOLDINGS_PER_USER = 6;
const PRICE_CENTS = 1000;

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Stream URLs are signed with an expiry: compared without their value. Extensions (cache tags,
 * listed in the order their entities resolved) are left out: answers are compared by their data.
 */
const comparable = (text: string) =>
  text
    .trimEnd()
    .replace(/,"extensions":\{.*\}$/s, '}')
    .replace(/"streamUrl":"[^"]*"/g, '"streamUrl":"…"');

/** The fetch nodes of a query plan, in the order they run (these plans are sequences). */
function fetchNodes(node: PlanNode | undefined): FetchNode[] {
  if (!node) return [];
  switch (node.kind) {
    case 'Fetch':
      return [node];
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap(fetchNodes);
    case 'Flatten':
      return fetchNodes(node.node);
    default:
      throw new Error(`unexpected plan node ${node.kind}`);
  }
}

function operationsDocument() {
  const texts = ['clients/operations/web.graphql', 'clients/operations/catalog.graphql', 'clients/operations/ownership.graphql'];
  return parse(texts.map((f) => readFileSync(join(root, f), 'utf8')).join('\n'));
}

/** The four operations' plans: per operation, its fetches in order. */
function plannedFetches(supergraphSdl: string): Map<OperationName, { subgraph: SubgraphRole; operation: string; operationName: string | undefined }[]> {
  const supergraph = Supergraph.build(supergraphSdl);
  const planner = new QueryPlanner(supergraph);
  const document = operationsDocument();
  const out = new Map<OperationName, { subgraph: SubgraphRole; operation: string; operationName: string | undefined }[]>();
  for (const name of OPERATIONS) {
    const operation = operationFromDocument(supergraph.schema, document, { operationName: name, validate: false });
    const plan = planner.buildQueryPlan(operation);
    const fetches = plan.node?.kind === 'Subscription' ? [] : fetchNodes(plan.node);
    out.set(
      name,
      fetches.map((f) => ({ subgraph: f.serviceName as SubgraphRole, operation: f.operation, operationName: f.operationName })),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Servers

interface SubgraphSet {
  name: 'base' | 'current';
  servers: Record<SubgraphRole, ChildServer<Role>>;
}

function startServer(role: Role, env: NodeJS.ProcessEnv, execArgv: string[]): Promise<ChildServer<Role>> {
  return startChild(join(here, 'server.ts'), { role, env }, { startTimeoutMs: 120_000, execArgv });
}

const nodeArgs = (text: string | undefined) => (text === undefined ? [...process.execArgv] : text.split(/\s+/).filter(Boolean));

async function startSet(name: SubgraphSet['name'], env: NodeJS.ProcessEnv): Promise<SubgraphSet> {
  const setEnv = name === 'base' ? { ...env, BENCH_SUBGRAPHS_ROOT: resolve(options.compare!) } : env;
  // One at a time: their migrations take the same lock anyway, and two sets would race on it.
  const servers = {} as Record<SubgraphRole, ChildServer<Role>>;
  const execArgv = nodeArgs(name === 'base' ? options.baseNodeArgs : options.nodeArgs);
  for (const role of SUBGRAPHS) servers[role] = await startServer(role, setEnv, execArgv);
  return { name, servers };
}

// ---------------------------------------------------------------------------------------------
// Data

interface User {
  id: string;
  token: string;
  published: string[];
  drafts: string[];
}

async function seed(servers: SubgraphSet['servers'], env: NodeJS.ProcessEnv, db: pg.Client): Promise<{ users: User[]; songs: string[] }> {
  const identity = servers.identity.url;
  const catalog = servers.catalog.url;
  const ownership = servers.ownership.url;
  const tag = randomBytes(4).toString('hex');
  const wav = makeWav(1, 4000);
  const users: User[] = [];
  for (let i = 0; i < options.users; i++) {
    const { register } = await gql<{ register: { accessToken: string; user: { id: string } } }>(
      identity,
      `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
      { input: { email: `bench-sg-${tag}-${i}@example.com`, password: 'a-long-password', displayName: `Bench User ${i + 1}`, role: 'ARTIST' } },
    );
    const token = register.accessToken;
    await gql(
      catalog,
      `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`,
      { input: { name: `Bench Band ${i + 1}` } },
      token,
    );
    const user: User = { id: register.user.id, token, published: [], drafts: [] };
    for (let s = 0; s < PUBLISHED_PER_USER + DRAFTS_PER_USER; s++) {
      const songId = (
        await gql<{ createSong: { id: string } }>(
          catalog,
          `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
          { input: { title: `Bench Song ${i + 1}.${s + 1}`, genre: s % 2 ? 'Pop' : 'Rock' } },
          token,
        )
      ).createSong.id;
      if (s >= PUBLISHED_PER_USER) {
        user.drafts.push(songId);
        continue;
      }
      const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
        catalog,
        `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl } }`,
        { songId, contentType: 'audio/wav', byteSize: wav.length },
        token,
      );
      // The upload URL names the public address (the gateway, which forwards /media/* to catalog): sent to catalog itself.
      const upload = new URL(ticket.requestSongUpload.uploadUrl, catalog);
      const uploaded = await fetch(new URL(upload.pathname + upload.search, catalog), {
        method: 'PUT',
        headers: { 'content-type': 'audio/wav' },
        body: new Uint8Array(wav),
      });
      if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
      await gql(catalog, `mutation($songId: ID!) { publishSong(songId: $songId) { status } }`, { songId }, token);
      user.published.push(songId);
    }
    users.push(user);
  }
  const songs = users.flatMap((u) => u.published);
  await until('ownership to learn the songs', async () => Number((await db.query('select count(*) from ownership.songs')).rows[0].count) === songs.length);
  const offeringOf = new Map<string, string>();
  for (const user of users) {
    for (const songId of user.published) {
      const { createShareOffering } = await gql<{ createShareOffering: { id: string } }>(
        ownership,
        `mutation($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id } }`,
        { input: { songId, totalShares: 100_000, pricePerShareCents: PRICE_CENTS, revenueShareBps: 1000 } },
        user.token,
      );
      offeringOf.set(songId, createShareOffering.id);
    }
  }

  const infra = createInfra({ redisUrl: env.REDIS_URL, prefix: env.REDIS_PREFIX!, log: createLogger('bench', 'silent') });
  try {
    for (const user of users)
      await infra.transport.append(
        newEnvelope('payments', 'payments.deposit.succeeded.v1', {
          depositId: randomBytes(12).toString('hex'),
          userId: user.id,
          amountCents: 10_000_000,
          method: 'CARD',
          succeededAt: new Date().toISOString(),
        }),
      );
  } finally {
    await infra.close();
  }
  await until(
    'ownership to credit the deposits',
    async () => Number((await db.query('select count(*) from ownership.deposits')).rows[0].count) === users.length,
  );

  // Each user holds shares of the songs of the next users; trades with the next user, and leaves orders resting.
  const place = (token: string, input: Record<string, unknown>) =>
    gql(ownership, `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status } } }`, { input }, token);
  const held = (i: number) => Array.from({ length: HOLDINGS_PER_USER }, (_, k) => songs[(i * PUBLISHED_PER_USER + PUBLISHED_PER_USER + k) % songs.length]!);
  for (const [i, user] of users.entries())
    for (const songId of held(i))
      await gql(
        ownership,
        `mutation($offeringId: ID!, $quantity: Int!) { buyOfferingShares(offeringId: $offeringId, quantity: $quantity) { quantity } }`,
        { offeringId: offeringOf.get(songId), quantity: 50 },
        user.token,
      );
  for (const [i, user] of users.entries()) {
    const songId = held(i)[0]!;
    const buyer = users[(i + 1) % users.length]!;
    await place(user.token, { songId, side: 'SELL', type: 'LIMIT', quantity: 5, limitPriceCents: PRICE_CENTS + 50 + i });
    await place(buyer.token, { songId, side: 'BUY', type: 'LIMIT', quantity: 5, limitPriceCents: PRICE_CENTS + 50 + i });
    await place(user.token, { songId: held(i)[1]!, side: 'SELL', type: 'LIMIT', quantity: 2, limitPriceCents: PRICE_CENTS * 5 });
    await place(user.token, { songId: held(i)[2]!, side: 'BUY', type: 'LIMIT', quantity: 3, limitPriceCents: PRICE_CENTS / 2 });
  }
  return { users, songs };
}

// ---------------------------------------------------------------------------------------------
// The fetches

interface Fetch {
  variables: Record<string, unknown>;
  token: string;
}

interface Row {
  key: string;
  operation: OperationName;
  subgraph: SubgraphRole;
  text: string;
  operationName: string | undefined;
  fetches: Fetch[];
}

type Answer = Record<string, unknown>;

/**
 * Runs each operation's fetches by hand, as the gateway would, for every user (and song), on the
 * current set; answers the rows with the variables of each fetch.
 */
async function buildRows(
  plans: Map<OperationName, { subgraph: SubgraphRole; operation: string; operationName: string | undefined }[]>,
  set: SubgraphSet,
  users: User[],
  songs: string[],
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const operation of OPERATIONS) {
    const plan = plans.get(operation)!;
    const planRows = plan.map((f): Row => ({
      key: `${operation}/${f.subgraph}`,
      operation,
      subgraph: f.subgraph,
      text: f.operation,
      operationName: f.operationName,
      fetches: [],
    }));
    if (new Set(plan.map((f) => f.subgraph)).size !== plan.length) throw new Error(`${operation}: two fetches to one subgraph; the rows need other keys`);
    const send = async (k: number, fetch: Fetch): Promise<Answer> => {
      planRows[k]!.fetches.push(fetch);
      const body = JSON.parse(
        (
          await postGraphQL(set.servers[plan[k]!.subgraph].url, plan[k]!.operation, fetch.variables, fetch.token).then((r) => {
            if (r.status !== 200) throw new Error(`${operation} fetch ${k} answered ${r.status} ${r.text}`);
            return r;
          })
        ).text,
      ) as { data?: Answer; errors?: unknown };
      if (body.errors || !body.data) throw new Error(`${operation} fetch ${k} (${plan[k]!.subgraph}) answered ${JSON.stringify(body)}`);
      return body.data;
    };
    const entities = (data: Answer) => data._entities as Answer[];
    const songReps = (ids: string[]) => [...new Set(ids)].map((id) => ({ __typename: 'Song', id }));
    const pairs = Array.from({ length: Math.max(users.length, songs.length) }, (_, i) => ({
      user: users[i % users.length]!,
      songId: songs[i % songs.length]!,
    }));
    switch (operation) {
      case 'Song':
        for (const { user, songId } of pairs) await send(0, { variables: { id: songId }, token: user.token });
        break;
      case 'SongDetails':
        for (const { user, songId } of pairs) {
          const data = await send(0, { variables: { id: songId }, token: user.token });
          const song = data.song as { id: string };
          await send(1, { variables: { representations: songReps([song.id]) }, token: user.token });
        }
        break;
      case 'MyArtistSongs':
        for (const user of users) {
          const me = (await send(0, { variables: {}, token: user.token })).me as { id: string };
          const [entity] = entities(await send(1, { variables: { representations: [{ __typename: 'User', id: me.id }] }, token: user.token }));
          const ids = (entity as { artistProfile: { songs: { edges: { node: { id: string } }[] } } }).artistProfile.songs.edges.map((e) => e.node.id);
          if (ids.length !== PUBLISHED_PER_USER + DRAFTS_PER_USER) throw new Error(`MyArtistSongs: ${ids.length} songs`);
          await send(2, { variables: { representations: songReps(ids) }, token: user.token });
        }
        break;
      case 'Portfolio':
        for (const user of users) {
          const me = (await send(0, { variables: {}, token: user.token })).me as { id: string };
          const [entity] = entities(await send(1, { variables: { representations: [{ __typename: 'User', id: me.id }] }, token: user.token }));
          const holdings = (entity as { portfolio: { holdings: { song: { id: string } }[] } }).portfolio.holdings;
          if (holdings.length < HOLDINGS_PER_USER) throw new Error(`Portfolio: ${holdings.length} holdings`);
          await send(2, { variables: { representations: songReps(holdings.map((h) => h.song.id)) }, token: user.token });
        }
        break;
    }
    rows.push(...planRows);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Load

interface Measurement {
  rps: number;
  usPerRequest: number | null;
  /** CPU seconds per wall second of the subgraph process. */
  cpu: number | null;
  /** Everything else on the machine but the subgraph and this process, same unit. */
  restCpu: number | null;
  requests: number;
  bad: number;
  kinds: Record<string, number>;
}

const traceId = randomBytes(16).toString('hex');
/** The first wrong answers seen, printed at the end. */
const wrongAnswers: string[] = [];

function load(url: string, row: Row, bodies: string[], valid: Set<string>, seconds: number): Promise<Result> {
  let next = 0;
  let requestNo = 0;
  const requestPrefix = randomBytes(6).toString('hex');
  return Promise.resolve(
    autocannon({
      url,
      method: 'POST',
      connections: options.connections,
      duration: seconds,
      timeout: 10,
      requests: [
        {
          setupRequest: (req) => {
            const i = next++ % bodies.length;
            return {
              ...req,
              body: bodies[i]!,
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${row.fetches[i]!.token}`,
                'x-request-id': `${requestPrefix}-${requestNo++}`,
                'x-forwarded-for': '127.0.0.1',
                traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
              },
            };
          },
        },
      ],
      verifyBody: (text: string) => {
        if (valid.has(comparable(text))) return true;
        if (wrongAnswers.length < 3) wrongAnswers.push(`${row.key}: ${text}`);
        if (process.env.BENCH_DEBUG) writeFileSync(`/tmp/sgb/wrong-${wrongAnswers.length}.json`, JSON.stringify({ text, valid: [...valid] }));
        return false;
      },
    }),
  );
}

async function measure(server: ChildServer<Role>, row: Row, bodies: string[], valid: Set<string>, profileAs: string | null): Promise<Measurement> {
  if (profileAs) await server.call('profileStart');
  const wallStart = performance.now();
  const cpuStart = cpuSeconds(server.pid);
  const machineStart = machineBusySeconds();
  const selfStart = process.cpuUsage();
  const result = await load(server.url, row, bodies, valid, options.duration);
  const self = process.cpuUsage(selfStart);
  const wall = (performance.now() - wallStart) / 1000;
  const cpuEnd = cpuSeconds(server.pid);
  const machineEnd = machineBusySeconds();
  if (profileAs) await server.call('profileStop', profileAs);
  const used = cpuStart === null || cpuEnd === null ? null : cpuEnd - cpuStart;
  const machine = machineStart === null || machineEnd === null ? null : (machineEnd - machineStart) / wall;
  const cpu = used === null ? null : used / wall;
  return {
    rps: result.requests.total / wall,
    usPerRequest: used === null || !result.requests.total ? null : (used * 1e6) / result.requests.total,
    cpu,
    restCpu: machine === null || cpu === null ? null : Math.max(0, machine - cpu - (self.user + self.system) / 1e6 / wall),
    requests: result.requests.total,
    bad: result.errors + result.timeouts + result.non2xx + result.mismatches,
    kinds: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, mismatches: result.mismatches },
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  console.log(
    `subgraph bench: ${OPERATIONS.join(', ')} subgraph fetches, ${options.connections} connections, ${options.users} users, ` +
      `${options.warmup} s warm-up, ${options.duration} s x ${options.rounds} round(s) per row${options.compare ? ` and set (base: ${options.compare})` : ''}; ` +
      `node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-subgraphs-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const { env, database } = await benchEnv('benchsg', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    PUBLIC_URL: 'http://127.0.0.1:4000',
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: randomBytes(32).toString('hex'),
    NODE_ENV: 'test',
  });
  const started = performance.now();
  const current = await startSet('current', env);
  const base = options.compare ? await startSet('base', env) : null;
  const sets = base ? [base, current] : [current];
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    const { users, songs } = await seed(current.servers, env, db);
    console.log(
      `setup: ${users.length} users (artists, ${PUBLISHED_PER_USER} published songs and ${DRAFTS_PER_USER} drafts each, ${HOLDINGS_PER_USER} holdings, 2 resting orders), ` +
        `${songs.length} offerings; ${fmt((performance.now() - started) / 1000, 1)} s`,
    );
    const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph, ownershipSubgraph]);
    let rows = await buildRows(plannedFetches(supergraph), current, users, songs);
    if (options.rows.length) rows = rows.filter((r) => options.rows.includes(r.key) || options.rows.includes(r.operation));
    if (!rows.length) throw new Error(`no row matches --rows=${options.rows.join(',')}`);

    // Each fetch's body and its answer on every set (the sets must agree).
    const prepared = new Map<string, { bodies: string[]; valid: Set<string> }>();
    for (const row of rows) {
      const bodies = row.fetches.map((f) =>
        JSON.stringify({ query: row.text, variables: f.variables, ...(row.operationName ? { operationName: row.operationName } : {}) }),
      );
      const valid = new Set<string>();
      for (const set of sets) {
        for (const [i, f] of row.fetches.entries()) {
          const { status, text } = await postGraphQL(set.servers[row.subgraph].url, row.text, f.variables, f.token);
          if (status !== 200 || text.includes('"errors"')) throw new Error(`${row.key} on ${set.name} answered ${status} ${text.slice(0, 300)}`);
          if (set === sets[0]) valid.add(comparable(text));
          else if (!valid.has(comparable(text)))
            throw new Error(
              `${row.key} fetch ${i}: ${set.name} answers other data than ${sets[0]!.name}: ${comparable(text)}\nfirst answers of ${sets[0]!.name}:\n${[...valid].slice(0, 3).join('\n')}`,
            );
        }
      }
      prepared.set(row.key, { bodies, valid });
    }

    const profileDir = join(here, 'profiles');
    if (options.cpuProf.size) mkdirSync(profileDir, { recursive: true });
    const stamp = Date.now();
    const results = new Map<string, Measurement[]>();
    const resultKey = (row: Row, set: SubgraphSet) => `${row.key}@${set.name}`;
    for (let round = 1; round <= options.rounds; round++) {
      for (const row of rows) {
        const { bodies, valid } = prepared.get(row.key)!;
        for (const set of sets) {
          const server = set.servers[row.subgraph];
          if (round === 1 && options.warmup > 0) await load(server.url, row, bodies, valid, options.warmup);
          const profileAs = options.cpuProf.has(row.subgraph)
            ? join(profileDir, `${set.name}-${row.operation}-${row.subgraph}-r${round}-${stamp}.cpuprofile`)
            : null;
          const m = await measure(server, row, bodies, valid, profileAs);
          results.set(resultKey(row, set), [...(results.get(resultKey(row, set)) ?? []), m]);
          console.log(
            `round ${round}/${options.rounds} ${row.key.padEnd(24)} ${set.name.padEnd(7)}: ${fmt(m.rps)} req/s, ${fmt(m.usPerRequest)} µs CPU/req, rest CPU ${fmt((m.restCpu ?? 0) * 100)}%` +
              (m.bad ? `, ${m.bad} BAD RESPONSES ${JSON.stringify(m.kinds)}` : ''),
          );
        }
      }
    }

    const summary = rows.map((row) => ({
      row: row.key,
      sets: Object.fromEntries(
        sets.map((set) => {
          const ms = results.get(resultKey(row, set))!;
          return [
            set.name,
            {
              rps: median(ms.map((m) => m.rps)),
              usPerRequest: median(ms.map((m) => m.usPerRequest ?? NaN)),
              requests: ms.reduce((s, m) => s + m.requests, 0),
              bad: ms.reduce((s, m) => s + m.bad, 0),
            },
          ];
        }),
      ) as Record<string, { rps: number; usPerRequest: number; requests: number; bad: number }>,
    }));
    const header = ['operation / subgraph fetch', ...sets.flatMap((s) => [`${s.name} req/s`, `${s.name} µs/req`]), ...(base ? ['current/base µs'] : []), 'bad'];
    const line = (label: string, values: Record<string, { rps: number; usPerRequest: number; bad: number }>) => [
      label,
      ...sets.flatMap((s) => [fmt(values[s.name]!.rps), fmt(values[s.name]!.usPerRequest)]),
      ...(base ? [fmt(values.current!.usPerRequest / values.base!.usPerRequest, 2)] : []),
      fmt(sets.reduce((n, s) => n + values[s.name]!.bad, 0)),
    ];
    const perOperation = OPERATIONS.filter((op) => summary.some((s) => s.row.startsWith(`${op}/`))).map((op) => {
      const own = summary.filter((s) => s.row.startsWith(`${op}/`));
      return line(
        `${op} (all its fetches)`,
        Object.fromEntries(
          sets.map((set) => [
            set.name,
            { rps: NaN, usPerRequest: own.reduce((t, s) => t + s.sets[set.name]!.usPerRequest, 0), bad: own.reduce((t, s) => t + s.sets[set.name]!.bad, 0) },
          ]),
        ),
      );
    });
    console.log('');
    console.log(table([header, ...summary.map((s) => line(s.row, s.sets)), ...perOperation]));
    console.log('(medians over rounds; µs/req = CPU time (user + system) of the subgraph process per request served)');
    if (options.cpuProf.size) console.log(`CPU profiles: ${profileDir} (node bench/tools/cpuprofile-summary.ts FILE)`);
    if (options.json) writeFileSync(options.json, JSON.stringify({ options: { ...options, cpuProf: [...options.cpuProf] }, summary }, null, 2) + '\n');
    const bad = summary.some((s) => Object.values(s.sets).some((v) => v.bad > 0));
    if (bad) console.error('FAILED: some responses were wrong (see "bad"); the numbers do not count.');
    for (const wrong of wrongAnswers) console.error(`wrong answer: ${wrong}`);
    return bad ? 1 : 0;
  } finally {
    await db.end();
  }
}

runBench(main);
