/**
 * Rewards benchmark (`npm run bench:rewards`): the listen-reward claim's Groth16 proofs, in one run:
 *
 *  1. Proof generation in Node: snarkjs groth16.fullProve with the committed wasm and zkey, for
 *     vouchers at random leaves of a depth-20 Poseidon tree (so every proof has a full 20-level
 *     path). One cold proof first (builds snarkjs's curve), then N timed: mean, p50, max.
 *     Target: mean < 2 s.
 *  2. Proof verifications per second over a fixed batch of the proofs made in 1 (taken in turn):
 *     (a) snarkjs groth16.verify on this process's main thread (snarkjs's default, multi-threaded
 *     curve), (b) the rewards subgraph's ProofVerifierPool with 1 worker, (c) with 2 workers (the
 *     production setting, VERIFIER_THREADS=2), each with up to 2 x workers in flight (4 for (a),
 *     one per core and thread). Target: (c) >= 40/s.
 *  3. claimListenReward end to end through the gateway: identity, catalog, rewards and our gateway
 *     each in their own child process (server.ts; the rewards process holds its own 2-worker
 *     ProofVerifierPool), the claims sent from this process. Vouchers come from the real API:
 *     an artist publishes a 1 s song (MIN_LISTEN_SECONDS=1), M fans all start a listen session at
 *     once, 1.2 s later all send a heartbeat, then all complete with a fresh commitment. Proofs
 *     for every voucher are made before the claims (not timed); then the claims go out with no
 *     token, C in flight: latency p50/p99 and claims/s (CREDITED mode: no chain configured).
 *     Every claim must come back CREDITED for its amount and wallet, or the run fails.
 *
 * Options (flag or environment variable):
 *   --proofs=N          BENCH_PROOFS          timed proofs in 1 (10)
 *   --verifications=N   BENCH_VERIFICATIONS   verifications per row in 2 (200)
 *   --claims=N          BENCH_CLAIMS          measured claims in 3 (60)
 *   --warmup-claims=N   BENCH_WARMUP_CLAIMS   claims sent before the measured ones (4)
 *   --concurrency=N     BENCH_CONCURRENCY     claims in flight (4)
 *   --json=FILE         BENCH_JSON            also write the results as JSON
 *   --check             BENCH_CHECK=1         exit 1 when a target is missed
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { groth16, type CircuitSignals, type Groth16Proof, type PublicSignals, type VerificationKey } from 'snarkjs';
import { composeSupergraph } from '@vibestream/platform';
import { freePort } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { DEPTH, artifacts, poseidon1, poseidon2, zeroHashes } from '@vibestream/circuits';
import { hashUp, type NodeRef } from '@vibestream/rewards/domain/merkle.ts';
import { ProofVerifierPool } from '@vibestream/rewards/verifier';
import { startChild } from '../lib/children.ts';
import { fmt, pct, table } from '../lib/format.ts';
import { postGraphQL } from '../lib/http.ts';
import { benchEnv, onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import type { Role } from './server.ts';
import { makeWav } from '@vibestream/catalog/testing';

const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    proofs: { type: 'string' },
    verifications: { type: 'string' },
    claims: { type: 'string' },
    'warmup-claims': { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

const options = {
  proofs: Math.round(numberOption(flags.proofs, 'proofs', 'BENCH_PROOFS', 10, 1)),
  verifications: Math.round(numberOption(flags.verifications, 'verifications', 'BENCH_VERIFICATIONS', 200, 1)),
  claims: Math.round(numberOption(flags.claims, 'claims', 'BENCH_CLAIMS', 60, 1)),
  warmupClaims: Math.round(numberOption(flags['warmup-claims'], 'warmup-claims', 'BENCH_WARMUP_CLAIMS', 4, 0)),
  concurrency: Math.round(numberOption(flags.concurrency, 'concurrency', 'BENCH_CONCURRENCY', 4, 1)),
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};

const TARGET_PROVE_MEAN_S = 2;
const TARGET_POOL2_PER_S = 40;
/** Verifier pool size of production (VERIFIER_THREADS default). */
const PRODUCTION_THREADS = 2;

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile (p in 0..100). */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Runs task(0..count-1) with at most `concurrency` in flight; results in index order. */
async function inTurn<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** A random field element below 2^248 (well inside the BN254 field). */
const randomField = () => BigInt(`0x${randomBytes(31).toString('hex')}`);
const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;

interface Secrets {
  nullifier: bigint;
  secret: bigint;
}
const newSecrets = (): Secrets => ({ nullifier: randomField(), secret: randomField() });

interface Proven {
  proof: Groth16Proof;
  publicSignals: PublicSignals;
  ms: number;
}

async function prove(
  secrets: Secrets,
  path: { root: string | bigint; pathElements: (string | bigint)[]; pathIndices: number[] },
  recipient: string,
): Promise<Proven> {
  const input: CircuitSignals = {
    nullifier: secrets.nullifier,
    secret: secrets.secret,
    pathElements: path.pathElements,
    pathIndices: path.pathIndices,
    root: path.root,
    recipient: BigInt(recipient),
  };
  const started = performance.now();
  const { proof, publicSignals } = await groth16.fullProve(input, artifacts.wasm, artifacts.zkey);
  return { proof, publicSignals, ms: performance.now() - started };
}

/** A sparse depth-20 Poseidon tree (empty leaves 0), built with the rewards subgraph's hashUp. */
class SparseTree {
  private readonly nodes = new Map<string, bigint>();
  private readonly zeros = zeroHashes(DEPTH);
  private readonly sibling = (ref: NodeRef) => this.nodes.get(`${ref.level}:${ref.index}`);

  insert(index: number, leaf: bigint): void {
    for (const n of hashUp(leaf, index, DEPTH, this.sibling, poseidon2, this.zeros).nodes) this.nodes.set(`${n.level}:${n.index}`, n.value);
  }

  path(index: number) {
    return hashUp(this.nodes.get(`0:${index}`) ?? 0n, index, DEPTH, this.sibling, poseidon2, this.zeros);
  }
}

/** CPU of some processes and of the whole machine over a stretch of wall time. */
function cpuMeter(pids: Record<string, number>) {
  const wallStart = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const self = process.cpuUsage();
  const machine = machineBusySeconds();
  return () => {
    const wall = (performance.now() - wallStart) / 1000;
    const used: Record<string, number | null> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const end = cpuSeconds(pid);
      used[name] = start[name] === null || end === null ? null : (end - start[name]!) / wall;
    }
    const selfUsage = process.cpuUsage(self);
    used.bench = (selfUsage.user + selfUsage.system) / 1e6 / wall;
    const machineEnd = machineBusySeconds();
    const total = machine === null || machineEnd === null ? null : (machineEnd - machine) / wall;
    used.rest = total === null ? null : Math.max(0, total - Object.values(used).reduce<number>((a, b) => a + (b ?? 0), 0));
    return { wall, cpu: used };
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Proof generation

async function proofGeneration() {
  const tree = new SparseTree();
  // Distinct random leaves, plus a few filled neighbours, so paths mix empty and real siblings.
  const indices = new Set<number>();
  while (indices.size < options.proofs + 1) indices.add(Math.floor(Math.random() * 2 ** DEPTH));
  const vouchers = [...indices].map((index) => ({ index, ...newSecrets(), recipient: randomAddress() }));
  for (const v of vouchers) {
    tree.insert(v.index, poseidon2(v.nullifier, v.secret));
    tree.insert(v.index ^ 1, poseidon2(randomField(), randomField()));
  }
  const [cold, ...timed] = vouchers;
  const coldProof = await prove(cold!, tree.path(cold!.index), cold!.recipient);
  const meter = cpuMeter({});
  const proofs: Proven[] = [];
  for (const v of timed) {
    const path = tree.path(v.index);
    const proven = await prove(v, path, v.recipient);
    if (proven.publicSignals.join() !== [poseidon1(v.nullifier), path.root, BigInt(v.recipient)].join()) {
      throw new Error(`unexpected publicSignals ${JSON.stringify(proven.publicSignals)}`);
    }
    proofs.push(proven);
  }
  const { cpu } = meter();
  const times = proofs.map((p) => p.ms / 1000);
  return {
    coldSeconds: coldProof.ms / 1000,
    proofs,
    times,
    mean: mean(times),
    p50: percentile(times, 50),
    min: Math.min(...times),
    max: Math.max(...times),
    cpu: cpu.bench!,
    rest: cpu.rest ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Verification throughput

interface VerifyRow {
  label: string;
  inFlight: number;
  verifications: number;
  seconds: number;
  perSecond: number;
  meanMs: number;
  p50Ms: number;
  maxMs: number;
  invalid: number;
  cpu: number;
  rest: number | null;
}

async function verifyBatch(label: string, inFlight: number, proofs: Proven[], verify: (p: Proven) => Promise<boolean>): Promise<VerifyRow> {
  // Warm-up, not counted: workers ready, code hot.
  await inTurn(Math.max(4, 2 * inFlight), inFlight, (i) => verify(proofs[i % proofs.length]!));
  const latencies: number[] = [];
  let invalid = 0;
  const meter = cpuMeter({});
  await inTurn(options.verifications, inFlight, async (i) => {
    const started = performance.now();
    const valid = await verify(proofs[i % proofs.length]!);
    latencies.push(performance.now() - started);
    if (!valid) invalid++;
  });
  const { wall, cpu } = meter();
  return {
    label,
    inFlight,
    verifications: options.verifications,
    seconds: wall,
    perSecond: options.verifications / wall,
    meanMs: mean(latencies),
    p50Ms: percentile(latencies, 50),
    maxMs: Math.max(...latencies),
    invalid,
    cpu: cpu.bench!,
    rest: cpu.rest ?? null,
  };
}

async function verificationThroughput(proofs: Proven[]): Promise<VerifyRow[]> {
  const vkey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as VerificationKey;
  const rows: VerifyRow[] = [];
  rows.push(await verifyBatch('(a) groth16.verify, main thread', 2 * PRODUCTION_THREADS, proofs, (p) => groth16.verify(vkey, p.publicSignals, p.proof)));
  for (const [key, threads] of [
    ['b', 1],
    ['c', PRODUCTION_THREADS],
  ] as const) {
    const pool = new ProofVerifierPool(artifacts.verificationKey, threads);
    try {
      rows.push(
        await verifyBatch(`(${key}) ProofVerifierPool, ${threads} worker${threads > 1 ? 's' : ''}`, 2 * threads, proofs, (p) =>
          pool.verify(p.proof, p.publicSignals),
        ),
      );
    } finally {
      await pool.close();
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// 3. claimListenReward through the gateway

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;
const START = `mutation StartListenSession($songId: ID!) { startListenSession(songId: $songId) { id } }`;
const HEARTBEAT = `mutation ListenHeartbeat($sessionId: ID!, $positionSeconds: Int!) { listenHeartbeat(sessionId: $sessionId, positionSeconds: $positionSeconds) { id listenedSeconds } }`;
const COMPLETE = `mutation CompleteListenSession($sessionId: ID!, $commitment: String!) {
  completeListenSession(sessionId: $sessionId, commitment: $commitment) { session { id status } voucher { epoch leafIndex amount merkleRoot } rejectionReason } }`;
const PATH = `query RewardMerklePath($epoch: Int!, $leafIndex: Int!) { rewardMerklePath(epoch: $epoch, leafIndex: $leafIndex) { root pathElements pathIndices } }`;
const CLAIM = `mutation ClaimListenReward($proof: JSON!, $publicSignals: [String!]!) { claimListenReward(proof: $proof, publicSignals: $publicSignals) { id status amount recipient txHash } }`;

async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text } = await postGraphQL(url, query, variables, token);
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (status !== 200 || body.errors || !body.data) throw new Error(`${query.slice(0, 60)}... answered ${status} ${text.slice(0, 500)}`);
  return body.data;
}

interface Voucher {
  epoch: number;
  leafIndex: number;
  amount: string;
}

async function claimsEndToEnd() {
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-bench-rewards-'));
  onCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const gatewayPort = await freePort();
  const { env, database } = await benchEnv('benchrwd', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    // Relays are kicked when their events commit; the interval is only a fallback poll.
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    MEDIA_DIR: mediaDir,
    MEDIA_SIGNING_SECRET: randomBytes(32).toString('hex'),
    MIN_LISTEN_SECONDS: '1',
    HEARTBEAT_TOLERANCE_SECONDS: '0',
    VERIFIER_THREADS: String(PRODUCTION_THREADS),
  });

  const script = join(here, 'server.ts');
  const [identity, catalog, rewards] = await Promise.all([
    startChild<Role>(script, { role: 'identity', env }),
    startChild<Role>(script, { role: 'catalog', env }),
    startChild<Role>(script, { role: 'rewards', env }),
  ]);
  const urls = new Map([
    [identitySubgraph.name, identity.url],
    [catalogSubgraph.name, catalog.url],
    [rewardsSubgraph.name, rewards.url],
  ]);
  const { supergraph } = composeSupergraph([identitySubgraph, catalogSubgraph, rewardsSubgraph], (m) => urls.get(m.name)!);
  const gateway = await startChild<Role>(script, { role: 'gateway', env, supergraphSdl: supergraph, port: gatewayPort });
  const url = gateway.url;

  // An artist with one published 1 s song.
  const register = async (role: 'FAN' | 'ARTIST', name: string) =>
    (
      await gql<{ register: { accessToken: string } }>(url, REGISTER, {
        input: { email: `bench-${role.toLowerCase()}-${randomBytes(6).toString('hex')}@example.com`, password: 'a-long-password', displayName: name, role },
      })
    ).register.accessToken;
  const artist = await register('ARTIST', 'Bench Artist');
  await gql(url, `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`, { input: { name: 'Bench Rewarded' } }, artist);
  const songId = (
    await gql<{ createSong: { id: string } }>(
      url,
      `mutation($input: CreateSongInput!) { createSong(input: $input) { id } }`,
      { input: { title: 'One Second', genre: 'Test' } },
      artist,
    )
  ).createSong.id;
  const wav = makeWav(1, 4000);
  const ticket = await gql<{ requestSongUpload: { uploadUrl: string } }>(
    url,
    `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl } }`,
    { songId, contentType: 'audio/wav', byteSize: wav.length },
    artist,
  );
  const uploaded = await fetch(new URL(ticket.requestSongUpload.uploadUrl, url), {
    method: 'PUT',
    headers: { 'content-type': 'audio/wav' },
    body: new Uint8Array(wav),
  });
  if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
  const published = await gql<{ publishSong: { durationSeconds: number } }>(
    url,
    `mutation($songId: ID!) { publishSong(songId: $songId) { durationSeconds } }`,
    { songId },
    artist,
  );

  // The fans, one voucher each.
  const total = options.warmupClaims + options.claims;
  const fans = await inTurn(total, 8, (i) => register('FAN', `Bench Fan ${i}`));

  // rewards learns the song from the catalog's event: wait until a session can start.
  const knownBy = Date.now() + 30_000;
  for (;;) {
    const { text } = await postGraphQL(url, START, { songId }, fans[0]);
    if (!text.includes('"errors"')) break;
    if (Date.now() > knownBy) throw new Error(`rewards never learnt the song: ${text.slice(0, 300)}`);
    await sleep(50);
  }

  // Everyone listens at once: start all, 1.2 s later a heartbeat at the end of the song, complete.
  const listenStarted = performance.now();
  const sessions = await Promise.all(
    fans.map((token) => gql<{ startListenSession: { id: string } }>(url, START, { songId }, token).then((r) => r.startListenSession.id)),
  );
  const startMs = performance.now() - listenStarted;
  await sleep(1200);
  let phase = performance.now();
  await Promise.all(fans.map((token, i) => gql(url, HEARTBEAT, { sessionId: sessions[i], positionSeconds: published.publishSong.durationSeconds }, token)));
  const heartbeatMs = performance.now() - phase;
  const secrets = fans.map(() => newSecrets());
  phase = performance.now();
  const completed = await Promise.all(
    fans.map((token, i) =>
      gql<{ completeListenSession: { voucher: Voucher | null; rejectionReason: string | null } }>(
        url,
        COMPLETE,
        { sessionId: sessions[i], commitment: poseidon2(secrets[i]!.nullifier, secrets[i]!.secret).toString() },
        token,
      ),
    ),
  );
  const completeMs = performance.now() - phase;
  const rejected = completed.filter((c) => !c.completeListenSession.voucher);
  if (rejected.length)
    throw new Error(`${rejected.length} listens got no voucher: ${[...new Set(rejected.map((c) => c.completeListenSession.rejectionReason))].join(', ')}`);
  const vouchers = completed.map((c) => c.completeListenSession.voucher!);

  // Proofs for every voucher (not timed as claims), against the tree as it now is.
  const proveStarted = performance.now();
  const paths = await inTurn(total, 8, (i) =>
    gql<{ rewardMerklePath: { root: string; pathElements: string[]; pathIndices: number[] } }>(url, PATH, {
      epoch: vouchers[i]!.epoch,
      leafIndex: vouchers[i]!.leafIndex,
    }).then((r) => r.rewardMerklePath),
  );
  const wallets = fans.map(() => randomAddress());
  const proofs: Proven[] = [];
  for (let i = 0; i < total; i++) proofs.push(await prove(secrets[i]!, paths[i]!, wallets[i]!));
  const proveSeconds = (performance.now() - proveStarted) / 1000;

  // The claims, anonymous, C in flight.
  let wrong = 0;
  const wrongSamples: string[] = [];
  const claim = async (i: number): Promise<number> => {
    const started = performance.now();
    const { status, text } = await postGraphQL(url, CLAIM, { proof: proofs[i]!.proof, publicSignals: proofs[i]!.publicSignals });
    const ms = performance.now() - started;
    const body = JSON.parse(text) as { data?: { claimListenReward: { status: string; amount: string; recipient: string } }; errors?: unknown };
    const c = body.data?.claimListenReward;
    if (status !== 200 || body.errors || c?.status !== 'CREDITED' || c.amount !== vouchers[i]!.amount || c.recipient.toLowerCase() !== wallets[i]) {
      wrong++;
      if (wrongSamples.length < 3) wrongSamples.push(`${status} ${text.slice(0, 300)}`);
    }
    return ms;
  };
  const warm = options.warmupClaims;
  await inTurn(warm, options.concurrency, (i) => claim(i));
  const meter = cpuMeter({ gateway: gateway.pid, rewards: rewards.pid, identity: identity.pid, catalog: catalog.pid });
  const latencies = await inTurn(options.claims, options.concurrency, (i) => claim(warm + i));
  const { wall, cpu } = meter();

  // Afterwards: the database holds one CREDITED claim per voucher, and a replay is refused.
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  let credited: number;
  try {
    credited = ((await db.query(`select count(*)::int as n from rewards.claims where status = 'CREDITED'`)).rows[0] as { n: number }).n;
  } finally {
    await db.end();
  }
  const replay = await postGraphQL(url, CLAIM, { proof: proofs[warm]!.proof, publicSignals: proofs[warm]!.publicSignals });
  const replayRefused = replay.text.includes('"CONFLICT"');

  return {
    listen: {
      fans: total,
      songSeconds: published.publishSong.durationSeconds,
      startMs,
      heartbeatMs,
      completeMs,
      vouchers: vouchers.length,
      epoch: vouchers[0]!.epoch,
    },
    proving: { proofs: total, seconds: proveSeconds },
    claims: {
      warmup: warm,
      measured: options.claims,
      concurrency: options.concurrency,
      seconds: wall,
      perSecond: options.claims / wall,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      mean: mean(latencies),
      max: Math.max(...latencies),
      min: Math.min(...latencies),
      cpu,
    },
    wrong,
    wrongSamples,
    credited,
    expectedCredited: total,
    replayRefused,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  onCleanup(async () => {
    await (globalThis as { curve_bn128?: { terminate?: () => Promise<void> } }).curve_bn128?.terminate?.();
  });
  console.log(
    `rewards bench: ${options.proofs} proofs, ${options.verifications} verifications per row, ${options.claims} claims (+${options.warmupClaims} warm-up) ` +
      `at ${options.concurrency} in flight; node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );

  // ------------------------------------------------------------------ 1.
  console.log('');
  console.log(`1. Groth16 proof generation (snarkjs groth16.fullProve, committed wasm + zkey, depth-${DEPTH} paths, one proof at a time)`);
  const gen = await proofGeneration();
  console.log(`cold first proof (builds snarkjs's curve, not counted): ${fmt(gen.coldSeconds, 2)} s`);
  console.log(
    table([
      ['proofs', 'mean s', 'p50 s', 'min s', 'max s', 'CPU', 'rest CPU'],
      [fmt(gen.times.length), fmt(gen.mean, 2), fmt(gen.p50, 2), fmt(gen.min, 2), fmt(gen.max, 2), pct(gen.cpu), pct(gen.rest)],
    ]),
  );
  const proveMet = gen.mean < TARGET_PROVE_MEAN_S;
  console.log(`target: mean < ${TARGET_PROVE_MEAN_S} s: ${proveMet ? 'met' : 'MISSED'}`);

  // ------------------------------------------------------------------ 2.
  console.log('');
  console.log(`2. Proof verifications per second (${options.verifications} per row, the ${gen.proofs.length} proofs of 1 in turn)`);
  const rows = await verificationThroughput(gen.proofs);
  console.log(
    table([
      ['verifier', 'in flight', 'verif/s', 'mean ms', 'p50 ms', 'max ms', 'invalid', 'CPU', 'rest CPU'],
      ...rows.map((r) => [
        r.label,
        fmt(r.inFlight),
        fmt(r.perSecond, 1),
        fmt(r.meanMs, 1),
        fmt(r.p50Ms, 1),
        fmt(r.maxMs, 1),
        fmt(r.invalid),
        pct(r.cpu),
        pct(r.rest),
      ]),
    ]),
  );
  console.log('(CPU = this process, all its threads, per wall second, 100% = one of the 2 cores; rest = everything else on the machine)');
  const pool2 = rows[2]!;
  const verifyMet = pool2.perSecond >= TARGET_POOL2_PER_S;
  console.log(`target: (c) >= ${TARGET_POOL2_PER_S}/s: ${verifyMet ? 'met' : 'MISSED'}`);
  const invalid = rows.reduce((a, r) => a + r.invalid, 0);

  // ------------------------------------------------------------------ 3.
  console.log('');
  console.log('3. claimListenReward through the gateway (identity, catalog, rewards, gateway each a child process; CREDITED mode, no chain)');
  const e2e = await claimsEndToEnd();
  const { listen, proving, claims } = e2e;
  console.log(
    `vouchers from the API: ${listen.fans} fans on a ${listen.songSeconds} s song, all at once: start ${fmt(listen.startMs)} ms, ` +
      `wait 1.2 s, heartbeat ${fmt(listen.heartbeatMs)} ms, complete ${fmt(listen.completeMs)} ms -> ${listen.vouchers} vouchers (epoch ${listen.epoch})`,
  );
  console.log(
    `proofs for them made beforehand (not timed as claims): ${proving.proofs} in ${fmt(proving.seconds, 1)} s (${fmt(proving.seconds / proving.proofs, 2)} s each, paths included)`,
  );
  console.log(
    table([
      ['claims', 'in flight', 'claims/s', 'p50 ms', 'p99 ms', 'mean ms', 'min ms', 'max ms', 'wrong'],
      [
        `${claims.measured} (+${claims.warmup} warm-up)`,
        fmt(claims.concurrency),
        fmt(claims.perSecond, 1),
        fmt(claims.p50),
        fmt(claims.p99),
        fmt(claims.mean),
        fmt(claims.min),
        fmt(claims.max),
        fmt(e2e.wrong),
      ],
    ]),
  );
  console.log(
    `CPU during the claims: ${Object.entries(claims.cpu)
      .map(([name, c]) => `${name} ${pct(c)}`)
      .join(', ')}`,
  );
  console.log('(bench = this process, which sends the claims; rest = PostgreSQL, Redis and anything else running)');
  console.log(
    `checks: ${e2e.credited}/${e2e.expectedCredited} claims CREDITED in rewards.claims; replaying a claimed proof: ${e2e.replayRefused ? 'CONFLICT (refused)' : 'NOT REFUSED'}`,
  );
  for (const sample of e2e.wrongSamples) console.error(`wrong claim answer: ${sample}`);

  if (options.json) {
    writeFileSync(options.json, JSON.stringify({ options, proofGeneration: { ...gen, proofs: undefined }, verification: rows, endToEnd: e2e }, null, 2) + '\n');
  }

  const failed = invalid > 0 || e2e.wrong > 0 || e2e.credited !== e2e.expectedCredited || !e2e.replayRefused;
  if (failed) console.error('FAILED: a valid proof did not verify, a claim was not CREDITED or a replay was not refused; the numbers do not count.');
  if (options.check && !(proveMet && verifyMet)) {
    console.error('a target was missed (--check)');
    return 1;
  }
  return failed ? 1 : 0;
}

runBench(main);
