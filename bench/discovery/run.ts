/**
 * Discovery benchmark (`npm run bench:discovery`), in one run:
 *
 *  1. A seeded synthetic listening history with planted taste clusters: songs belong to clusters
 *     (several clusters share a genre, so genre alone is a weak signal), artists to one cluster;
 *     each user has two favourite clusters and takes 85% of their listens from them (popular songs
 *     of a cluster more often), 15% from the global popularity curve. Listen times are spread over
 *     the 60 days before now and the 10 days after: the split is now.
 *  2. Build: the training listens (before now) as discovery's tables (user_songs, song_daily) are
 *     loaded in bulk, then the counts (song_listeners, pair_listeners) are computed set-based with
 *     the same semantics as the event handlers (each first completion paired with the listener's 50
 *     most recent earlier songs; each pair aggregated once, written both ways, indexes rebuilt after
 *     the load), then every song is marked and the subgraph's own background pass (the one listens
 *     trigger) computes the neighbour table (song_neighbours) in batches. Printed: both build times.
 *  3. Evaluation: for up to --eval users with held-out songs (songs first completed after the split
 *     that they had not completed before), recommendedSongs(first: 20) straight to the discovery
 *     subgraph over HTTP (a signed token per user; the subgraph in a child process, server.ts), its first 10 scored by HR@10 and NDCG@10 against a
 *     popularity baseline (the most listened songs the user has not completed). The same requests
 *     give the serving p50/p99 at the subgraph; --rounds repeats them (and the empty-request floor)
 *     on the same build, printing each round.
 *
 * Options (flag or environment variable):
 *   --users=N    BENCH_USERS    users (5000)
 *   --songs=N    BENCH_SONGS    songs (2000)
 *   --listens=N  BENCH_LISTENS  listens (200000)
 *   --eval=N     BENCH_EVAL     evaluated users (1000)
 *   --seed=N     BENCH_SEED     PRNG seed (1)
 *   --rounds=N   BENCH_ROUNDS   latency rounds on the same build (1)
 * The full scale: npm run bench:discovery -- --users=50000 --songs=20000 --listens=2000000
 * The serving scale: npm run bench:discovery -- --users=50000 --songs=100000 --listens=1000000 --rounds=3
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { graphqlClient, mintToken } from '@vibestream/testkit';
import { startChild } from '../lib/children.ts';
import { fmt, table } from '../lib/format.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { seededRandom } from '../lib/random.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string' },
    songs: { type: 'string' },
    listens: { type: 'string' },
    eval: { type: 'string' },
    seed: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const USERS = numberOption(values.users, 'users', 'BENCH_USERS', 5000, 10);
const SONGS = numberOption(values.songs, 'songs', 'BENCH_SONGS', 2000, 50);
const LISTENS = numberOption(values.listens, 'listens', 'BENCH_LISTENS', 200_000, 100);
const EVAL = numberOption(values.eval, 'eval', 'BENCH_EVAL', 1000, 1);
const SEED = numberOption(values.seed, 'seed', 'BENCH_SEED', 1, 0);
const ROUNDS = numberOption(values.rounds, 'rounds', 'BENCH_ROUNDS', 1, 1);

const CLUSTERS = Math.max(5, Math.round(SONGS / 80));
const GENRES = Math.max(2, Math.round(CLUSTERS / 2.5));
const DAY = 86_400_000;

/** Picks an index from a cumulative weight array. */
function pick(cdf: Float64Array, r: number): number {
  const target = r * cdf[cdf.length - 1]!;
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const cdfOf = (weights: number[]) => {
  const cdf = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => (cdf[i] = sum += w));
  return cdf;
};

function generate() {
  const random = seededRandom(SEED);
  const artists = Array.from({ length: Math.max(CLUSTERS, Math.round(SONGS / 8)) }, (_, i) => ({ id: randomUUID(), cluster: i % CLUSTERS }));
  const songs = Array.from({ length: SONGS }, (_, i) => {
    const artist = artists[Math.floor(random() * artists.length)]!;
    return { id: randomUUID(), index: i, artistId: artist.id, cluster: artist.cluster, genre: `genre-${artist.cluster % GENRES}` };
  });
  const byCluster = Array.from({ length: CLUSTERS }, (_, c) => songs.filter((s) => s.cluster === c));
  const clusterCdf = byCluster.map((list) => cdfOf(list.map((_, rank) => 1 / Math.pow(rank + 1, 0.8))));
  const globalOrder = [...songs].sort(() => random() - 0.5);
  const globalCdf = cdfOf(globalOrder.map((_, rank) => 1 / (rank + 1)));
  const users = Array.from({ length: USERS }, () => {
    const a = Math.floor(random() * CLUSTERS);
    let b = Math.floor(random() * CLUSTERS);
    if (b === a) b = (a + 1) % CLUSTERS;
    return { id: randomUUID(), clusters: [a, b] as const };
  });
  const now = Date.now();
  const listens: { user: number; song: number; at: number }[] = [];
  for (let i = 0; i < LISTENS; i++) {
    const user = Math.floor(random() * USERS);
    const r = random();
    let song: number;
    if (r < 0.85) {
      const cluster = users[user]!.clusters[r < 0.6 ? 0 : 1];
      const list = byCluster[cluster]!;
      if (list.length === 0) song = globalOrder[pick(globalCdf, random())]!.index;
      else song = list[pick(clusterCdf[cluster]!, random())]!.index;
    } else song = globalOrder[pick(globalCdf, random())]!.index;
    listens.push({ user, song, at: now - 60 * DAY + Math.floor(random() * 70 * DAY) });
  }
  return { songs, users, listens, now };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<number> {
  const started = Date.now();
  const { songs, users, listens, now } = generate();
  console.log(
    `synthetic history: ${fmt(USERS)} users, ${fmt(SONGS)} songs (${CLUSTERS} taste clusters, ${GENRES} genres), ${fmt(LISTENS)} listens, seed ${SEED} (${fmt((Date.now() - started) / 1000, 1)} s)`,
  );

  // Time split: training before now, held-out after.
  const train = new Map<string, { user: number; song: number; count: number; first: number; last: number }>();
  const daily = new Map<string, number>();
  const later: { user: number; song: number }[] = [];
  for (const l of listens) {
    if (l.at >= now) {
      later.push(l);
      continue;
    }
    const key = `${l.user}:${l.song}`;
    const t = train.get(key);
    if (!t) train.set(key, { user: l.user, song: l.song, count: 1, first: l.at, last: l.at });
    else Object.assign(t, { count: t.count + 1, first: Math.min(t.first, l.at), last: Math.max(t.last, l.at) });
    const day = `${songs[l.song]!.id}|${new Date(l.at).toISOString().slice(0, 10)}`;
    daily.set(day, (daily.get(day) ?? 0) + 1);
  }
  const heldOut = new Map<number, Set<number>>();
  for (const l of later) {
    if (train.has(`${l.user}:${l.song}`)) continue;
    if (!heldOut.has(l.user)) heldOut.set(l.user, new Set());
    heldOut.get(l.user)!.add(l.song);
  }
  const trainedUsers = new Set([...train.values()].map((t) => t.user));
  const evalUsers = [...heldOut.keys()].filter((u) => trainedUsers.has(u)).slice(0, EVAL);

  // Only what the rest needs stays on this process's heap while the subgraph is measured.
  listens.length = 0;
  later.length = 0;

  const { env, keys, database } = await benchEnv('bench-discovery', { LOG_LEVEL: 'warn' });
  const server = await startChild(fileURLToPath(new URL('./server.ts', import.meta.url)), { role: 'discovery', env }, { startTimeoutMs: 120_000 });
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  onCleanup(() => db.end());

  // Load the projections (what the handlers would have written), in chunks.
  const loadStarted = Date.now();
  const chunk = 20_000;
  for (let i = 0; i < songs.length; i += chunk) {
    const part = songs.slice(i, i + chunk);
    await db.query(
      `insert into discovery.songs (song_id, artist_id, title, genre, duration_seconds, published_at)
       select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::timestamptz[])`,
      [
        part.map((s) => s.id),
        part.map((s) => s.artistId),
        part.map((s) => `Song ${s.index}`),
        part.map((s) => s.genre),
        part.map(() => 200),
        part.map(() => new Date(now - 90 * DAY).toISOString()),
      ],
    );
  }
  const rowsOfTrain = [...train.values()];
  const trainRows = rowsOfTrain.length;
  for (let i = 0; i < rowsOfTrain.length; i += chunk) {
    const part = rowsOfTrain.slice(i, i + chunk);
    await db.query(
      `insert into discovery.user_songs (user_id, song_id, completions, first_completed_at, last_completed_at)
       select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[], $5::timestamptz[])`,
      [
        part.map((t) => users[t.user]!.id),
        part.map((t) => songs[t.song]!.id),
        part.map((t) => t.count),
        part.map((t) => new Date(t.first).toISOString()),
        part.map((t) => new Date(t.last).toISOString()),
      ],
    );
  }
  const days = [...daily.entries()];
  for (let i = 0; i < days.length; i += chunk) {
    const part = days.slice(i, i + chunk);
    await db.query(`insert into discovery.song_daily (song_id, day, listens) select * from unnest($1::uuid[], $2::date[], $3::int[])`, [
      part.map(([k]) => k.split('|')[0]),
      part.map(([k]) => k.split('|')[1]),
      part.map(([, n]) => n),
    ]);
  }
  const loadSeconds = (Date.now() - loadStarted) / 1000;

  // Build the counts, set-based, with the handlers' semantics: each pair of a listener's first
  // completions (the later one with the 50 before it) aggregated once, then written both ways into
  // the table without its indexes, which are rebuilt (sorted) after the load.
  const buildStarted = Date.now();
  await db.query(`set work_mem = '256MB'`);
  await db.query(`set maintenance_work_mem = '512MB'`);
  await db.query(`insert into discovery.song_listeners (song_id, listeners) select song_id, count(*) from discovery.user_songs group by song_id`);
  await db.query(`alter table discovery.pair_listeners drop constraint pair_listeners_pkey`);
  await db.query(`drop index discovery.pair_listeners_usable`);
  await db.query(
    `insert into discovery.pair_listeners (song_a, song_b, listeners)
     with ranked as (
       select user_id, song_id, row_number() over (partition by user_id order by first_completed_at, song_id) as r from discovery.user_songs
     ), counted as (
       select least(x.song_id, y.song_id) as a, greatest(x.song_id, y.song_id) as b, count(*)::int as n
       from ranked x join ranked y on y.user_id = x.user_id and y.r < x.r and y.r >= x.r - 50
       group by 1, 2
     )
     select a, b, n from counted union all select b, a, n from counted`,
  );
  await db.query(`alter table discovery.pair_listeners add primary key (song_a, song_b)`);
  await db.query(`create index pair_listeners_usable on discovery.pair_listeners (song_a, listeners desc)`);
  await db.query('analyze');
  const buildSeconds = (Date.now() - buildStarted) / 1000;
  const pairCount = Number((await db.query(`select count(*) as n from discovery.pair_listeners`)).rows[0].n);
  const usable = Number((await db.query(`select count(*) as n from discovery.pair_listeners where listeners >= 5`)).rows[0].n);

  // The neighbour table: every song marked, as if each had just changed; the subgraph's background
  // pass (DISCOVERY_NEIGHBOUR_REFRESH_MS) recomputes the marked songs in batches until none is left.
  const neighboursStarted = Date.now();
  await db.query(`insert into discovery.neighbour_dirty (song_id) select song_id from discovery.songs on conflict do nothing`);
  for (;;) {
    const left = Number((await db.query(`select count(*) as n from discovery.neighbour_dirty`)).rows[0].n);
    if (left === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await db.query('analyze discovery.song_neighbours');
  const neighboursSeconds = (Date.now() - neighboursStarted) / 1000;
  const neighbourRows = Number((await db.query(`select count(*) as n from discovery.song_neighbours`)).rows[0].n);

  // Popularity baseline: distinct training listeners.
  const listeners = new Map<number, number>();
  for (const t of rowsOfTrain) listeners.set(t.song, (listeners.get(t.song) ?? 0) + 1);
  const popular = [...listeners.entries()].sort((a, b) => b[1] - a[1]).map(([s]) => s);
  const trainedBy = new Map<number, Set<number>>();
  for (const t of rowsOfTrain) {
    if (!trainedBy.has(t.user)) trainedBy.set(t.user, new Set());
    trainedBy.get(t.user)!.add(t.song);
  }
  const indexOf = new Map<string, number>(songs.map((s) => [s.id, s.index]));
  const score = (ranked: number[], relevant: Set<number>) => {
    const top = ranked.slice(0, 10);
    const hits = top.map((s) => (relevant.has(s) ? 1 : 0));
    const dcg = hits.reduce((sum: number, h, i) => sum + h / Math.log2(i + 2), 0);
    let idcg = 0;
    for (let i = 0; i < Math.min(10, relevant.size); i++) idcg += 1 / Math.log2(i + 2);
    return { hit: hits.some((h) => h === 1) ? 1 : 0, ndcg: idcg > 0 ? dcg / idcg : 0 };
  };

  train.clear();
  daily.clear();
  rowsOfTrain.length = 0;
  days.length = 0;
  const subgraph = graphqlClient(server.url);
  const query = `query { recommendedSongs(first: 20) { edges { node { id } reason } } }`;
  const tokens = await Promise.all(evalUsers.map((u) => mintToken(keys, { userId: users[u]!.id })));
  for (let i = 0; i < Math.min(50, tokens.length); i++) await subgraph(query, {}, { token: tokens[i]! });
  const totals = { baseline: { hit: 0, ndcg: 0 }, recommender: { hit: 0, ndcg: 0 } };
  const rounds: { floor: number[]; latencies: number[] }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // The subgraph's own floor: an authenticated request that reads nothing.
    const floor: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = process.hrtime.bigint();
      await subgraph('query { __typename }', {}, { token: tokens[i % tokens.length]! });
      floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    floor.sort((a, b) => a - b);
    const latencies: number[] = [];
    for (const [i, user] of evalUsers.entries()) {
      const t0 = process.hrtime.bigint();
      const result = await subgraph<{ recommendedSongs: { edges: { node: { id: string } }[] } }>(query, {}, { token: tokens[i]! });
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!result.data) throw new Error(JSON.stringify(result.errors));
      if (round > 0) continue;
      const relevant = heldOut.get(user)!;
      const known = trainedBy.get(user)!;
      const base = score(
        popular.filter((s) => !known.has(s)),
        relevant,
      );
      const rec = score(
        result.data.recommendedSongs.edges.map((e) => indexOf.get(e.node.id)!),
        relevant,
      );
      totals.baseline.hit += base.hit;
      totals.baseline.ndcg += base.ndcg;
      totals.recommender.hit += rec.hit;
      totals.recommender.ndcg += rec.ndcg;
    }
    latencies.sort((a, b) => a - b);
    rounds.push({ floor, latencies });
  }
  const n = evalUsers.length;
  console.log(`\nloaded ${fmt(trainRows)} listener-song rows in ${fmt(loadSeconds, 1)} s`);
  console.log(
    `build of the counts (song_listeners + pair_listeners, set-based): ${fmt(buildSeconds, 1)} s, ${fmt(pairCount)} pair rows, ${fmt(usable)} usable (>= 5 listeners)`,
  );
  console.log(`build of the neighbour table (every song through the background pass): ${fmt(neighboursSeconds, 1)} s, ${fmt(neighbourRows)} rows\n`);
  console.log(
    table([
      ['model', 'HR@10', 'NDCG@10'],
      ['popularity baseline', fmt(totals.baseline.hit / n, 3), fmt(totals.baseline.ndcg / n, 3)],
      ['recommender', fmt(totals.recommender.hit / n, 3), fmt(totals.recommender.ndcg / n, 3)],
    ]),
  );
  const ratio = totals.baseline.hit > 0 ? totals.recommender.hit / totals.baseline.hit : Infinity;
  console.log(`\nrecommender / baseline HR@10: ${fmt(ratio, 2)}x over ${fmt(n)} users (target >= 2x)`);
  for (const [i, { floor, latencies }] of rounds.entries()) {
    const label = ROUNDS > 1 ? `round ${i + 1}: ` : '';
    console.log(
      `${label}serving recommendedSongs(first: 20) at the subgraph: p50 ${fmt(quantile(latencies, 0.5), 2)} ms, p99 ${fmt(quantile(latencies, 0.99), 2)} ms (${fmt(n)} sequential requests)`,
    );
    console.log(
      `${label}an empty authenticated request ({ __typename }) at the subgraph: p50 ${fmt(quantile(floor, 0.5), 2)} ms, p99 ${fmt(quantile(floor, 0.99), 2)} ms`,
    );
  }
  return 0;
}

runBench(main);
