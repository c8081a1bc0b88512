/**
 * Gateway benchmark, `me` mode (`npm run bench:gateway -- --ops=me`): the `me` query, side by side in one run,
 *   (a)  straight to the identity subgraph,
 *   (b)  through our gateway (startGateway),
 *   (c)  through a stock ApolloServer({ gateway: new ApolloGateway(...) }) on the same supergraph,
 *   (b0) through our gateway with merging of identical in-flight subgraph queries turned off
 *        (a control: how much of (b) comes from that merging),
 * each server in its own child process, autocannon in this process. Prints req/s and latency
 * per target and the ratios b/a (budget >= 0.4) and b/c (budget >= 2).
 *
 * Options (flag or environment variable):
 *   --ops=me          BENCH_OPS=me       selects this benchmark (run.ts); without it run.ts runs operations.ts
 *   --duration=S      BENCH_DURATION     seconds measured per target and round (10)
 *   --warmup=S        BENCH_WARMUP       seconds of warm-up per target before its first round (3)
 *   --connections=N   BENCH_CONNECTIONS  concurrent connections (10)
 *   --rounds=N        BENCH_ROUNDS       rounds over the targets, interleaved; medians are reported (1)
 *   --users=N         BENCH_USERS        distinct signed-in users, taken in turn request by request (1)
 *   --targets=LIST    BENCH_TARGETS      which of a,b,c,b0 to measure (a,b,c,b0)
 *   --cpu-prof=ROLES  BENCH_CPU_PROF     comma list of subgraph,gateway,gateway-nomerge,stock to run
 *                                        under `node --cpu-prof` (profiles in bench/gateway/profiles)
 *   --json=FILE       BENCH_JSON         also write the results as JSON
 *   --check           BENCH_CHECK=1      exit 1 when a budget is missed
 * Every response is checked against the one each target gave before the run; any wrong answer
 * (non-2xx, error, other body) fails the run (exit 1) whatever the numbers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import autocannon, { type Options as LoadOptions, type Result } from 'autocannon';
import { composeSupergraph } from '@vibestream/platform';
import { identitySubgraph } from '@vibestream/identity';
import { startChild, type ChildServer } from '../lib/children.ts';
import { fmt, median, medianOrNull, pct, table } from '../lib/format.ts';
import { postGraphQL as post } from '../lib/http.ts';
import { benchEnv, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';
import { cpuSeconds, machineBusySeconds } from '../lib/proc.ts';
import type { Role } from './server.ts';

const here = dirname(fileURLToPath(import.meta.url));

const ME = 'query Me { me { id email displayName roles createdAt wallets { chain address linkedAt } } }';
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;

const { values: flags } = parseArgs({
  options: {
    ops: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rounds: { type: 'string' },
    users: { type: 'string' },
    targets: { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

type TargetKey = 'a' | 'b' | 'c' | 'b0';
const TARGETS: { key: TargetKey; role: Role; label: string }[] = [
  { key: 'a', role: 'subgraph', label: '(a)  identity subgraph, direct' },
  { key: 'b', role: 'gateway', label: '(b)  our gateway' },
  { key: 'c', role: 'stock', label: '(c)  stock ApolloServer + ApolloGateway' },
  { key: 'b0', role: 'gateway-nomerge', label: '(b0) our gateway, in-flight merging off' },
];

const options = {
  duration: numberOption(flags.duration, 'duration', 'BENCH_DURATION', 10, 1),
  warmup: numberOption(flags.warmup, 'warmup', 'BENCH_WARMUP', 3, 0),
  connections: Math.round(numberOption(flags.connections, 'connections', 'BENCH_CONNECTIONS', 10, 1)),
  rounds: Math.round(numberOption(flags.rounds, 'rounds', 'BENCH_ROUNDS', 1, 1)),
  users: Math.round(numberOption(flags.users, 'users', 'BENCH_USERS', 1, 1)),
  targets: (flags.targets ?? process.env.BENCH_TARGETS ?? 'a,b,c,b0').split(',').filter(Boolean) as TargetKey[],
  cpuProf: new Set((flags['cpu-prof'] ?? process.env.BENCH_CPU_PROF ?? '').split(',').filter(Boolean)),
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};
for (const key of options.targets) if (!TARGETS.some((t) => t.key === key)) throw new Error(`unknown target ${key} (a, b, c, b0)`);
if (options.users > 1000) throw new Error('--users is at most 1000');

interface Target {
  key: TargetKey;
  label: string;
  role: Role;
  url: string;
  pid: number;
  /** The exact body each user's `me` answer must have, in user order. */
  expected: string[];
}

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  /** CPU seconds per wall second of the target's own server process (1.0 = one core). */
  serverCpu: number | null;
  /** The identity subgraph behind a gateway, same unit. */
  subgraphCpu: number | null;
  /** This process (autocannon), same unit. */
  loadCpu: number;
  /** Everything else on the machine, same unit: PostgreSQL, Redis, and whatever else runs. */
  restCpu: number | null;
  /** CPU microseconds of the target's own server process per request served. */
  serverUsPerRequest: number | null;
  requests: number;
  bad: number;
}

const serverScript = join(here, 'server.ts');

function startServer(role: Role, env: NodeJS.ProcessEnv, supergraphSdl?: string): Promise<ChildServer<Role>> {
  const execArgv = [...process.execArgv];
  if (options.cpuProf.has(role)) {
    const dir = join(here, 'profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`);
  }
  return startChild(serverScript, { role, env, ...(supergraphSdl ? { supergraphSdl } : {}) }, { execArgv });
}

function load(target: Target, tokens: string[], seconds: number): Promise<Result> {
  const body = JSON.stringify({ query: ME, operationName: 'Me' });
  const headers = { 'content-type': 'application/json' };
  const request: Partial<LoadOptions> =
    tokens.length === 1
      ? { headers: { ...headers, authorization: `Bearer ${tokens[0]}` }, expectBody: target.expected[0]! }
      : (() => {
          // Users in turn, request by request; a body must be one of the users' own answers.
          let next = 0;
          const valid = new Set(target.expected);
          return {
            requests: [
              {
                setupRequest: (req) => ({ ...req, headers: { ...headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }),
              },
            ],
            verifyBody: (text: string) => valid.has(text),
          };
        })();
  return Promise.resolve(
    autocannon({
      url: target.url,
      method: 'POST',
      body,
      connections: options.connections,
      duration: seconds,
      timeout: 10,
      ...request,
    }),
  );
}

async function measure(target: Target, tokens: string[], subgraphPid: number): Promise<Measurement> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = cpuSeconds(target.pid);
  const subgraphStart = target.pid === subgraphPid ? null : cpuSeconds(subgraphPid);
  const machineStart = machineBusySeconds();
  const loadStart = process.cpuUsage();
  const result = await load(target, tokens, options.duration);
  const loadUsage = process.cpuUsage(loadStart);
  const wall = Number(process.hrtime.bigint() - wallStart) / 1e9;
  const cpuEnd = cpuSeconds(target.pid);
  const subgraphEnd = subgraphStart === null ? null : cpuSeconds(subgraphPid);
  const machineEnd = machineBusySeconds();
  const loadCpu = (loadUsage.user + loadUsage.system) / 1e6 / wall;
  const serverCpu = cpuStart !== null && cpuEnd !== null ? (cpuEnd - cpuStart) / wall : null;
  const subgraphCpu = subgraphStart !== null && subgraphEnd !== null ? (subgraphEnd - subgraphStart) / wall : null;
  const machine = machineStart !== null && machineEnd !== null ? (machineEnd - machineStart) / wall : null;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu,
    subgraphCpu,
    loadCpu,
    restCpu: machine === null || serverCpu === null ? null : Math.max(0, machine - serverCpu - (subgraphCpu ?? 0) - loadCpu),
    serverUsPerRequest: serverCpu === null || !result.requests.total ? null : (serverCpu * wall * 1e6) / result.requests.total,
    requests: result.requests.total,
    bad: result.errors + result.timeouts + result.non2xx + result.mismatches,
  };
}

async function main(): Promise<number> {
  console.log(
    `gateway bench: me query, ${options.connections} connections, ${options.users} user(s), ${options.warmup} s warm-up, ` +
      `${options.duration} s x ${options.rounds} round(s) per target; node ${process.version}; load average ${loadavg()[0]!.toFixed(2)}`,
  );
  const { env } = await benchEnv('benchgw', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    NODE_ENV: 'test',
    // Our gateway's entity cache: its default unless this process was given the switch.
    ...(process.env.GATEWAY_ENTITY_CACHE ? { GATEWAY_ENTITY_CACHE: process.env.GATEWAY_ENTITY_CACHE } : {}),
  });

  const subgraph = await startServer('subgraph', env);
  const { supergraph } = composeSupergraph([identitySubgraph], () => subgraph.url);
  const chosen = TARGETS.filter((t) => options.targets.includes(t.key));
  const servers = await Promise.all(chosen.map(async (t) => ({ ...t, ...(t.role === 'subgraph' ? subgraph : await startServer(t.role, env, supergraph)) })));

  const tag = randomBytes(4).toString('hex');
  const emails: string[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < options.users; i++) {
    const email = `bench-${tag}-${i}@example.com`;
    const registered = await post(subgraph.url, REGISTER, { input: { email, password: 'a-long-password', displayName: 'Bench' } });
    const register = JSON.parse(registered.text) as { data?: { register: { accessToken: string } } };
    if (!register.data) throw new Error(`register failed: ${registered.text}`);
    emails.push(email);
    tokens.push(register.data.register.accessToken);
  }

  // Every target must answer each user with the same data; each exact reply is what the load run then expects.
  const targets: Target[] = [];
  const reference: unknown[] = [];
  for (const server of servers) {
    const expected: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const { status, text } = await post(server.url, ME, {}, tokens[i]);
      const body = JSON.parse(text) as { data?: { me?: { email?: string } }; errors?: unknown };
      if (status !== 200 || body.errors || body.data?.me?.email !== emails[i]) throw new Error(`${server.label} answered ${status} ${text}`);
      if (reference[i] === undefined) reference[i] = body.data;
      else if (!isDeepStrictEqual(reference[i], body.data)) throw new Error(`${server.label} answered other data: ${text}`);
      expected.push(text);
    }
    targets.push({ key: server.key, label: server.label, role: server.role, url: server.url, pid: server.pid, expected });
  }

  const results = new Map<TargetKey, Measurement[]>(targets.map((t) => [t.key, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of targets) {
      if (round === 1 && options.warmup > 0) {
        console.log(`warming up ${target.label.trim()} ...`);
        await load(target, tokens, options.warmup);
      }
      const m = await measure(target, tokens, subgraph.pid);
      results.get(target.key)!.push(m);
      console.log(
        `round ${round}/${options.rounds} ${target.label.replace(/\s+/, ' ')}: ${fmt(m.rps)} req/s, p99 ${fmt(m.p99)} ms` +
          (m.bad ? `, ${m.bad} BAD RESPONSES` : ''),
      );
    }
  }

  const summary = targets.map((t) => {
    const ms = results.get(t.key)!;
    return {
      key: t.key,
      label: t.label,
      rps: median(ms.map((m) => m.rps)),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      serverCpu: medianOrNull(ms.map((m) => m.serverCpu)),
      subgraphCpu: medianOrNull(ms.map((m) => m.subgraphCpu)),
      loadCpu: median(ms.map((m) => m.loadCpu)),
      restCpu: medianOrNull(ms.map((m) => m.restCpu)),
      serverUsPerRequest: medianOrNull(ms.map((m) => m.serverUsPerRequest)),
      requests: ms.reduce((s, m) => s + m.requests, 0),
      bad: ms.reduce((s, m) => s + m.bad, 0),
    };
  });
  const rps = (k: TargetKey) => summary.find((s) => s.key === k)?.rps;

  console.log('');
  console.log(
    table([
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'server CPU', 'server µs/req', 'subgraph CPU', 'autocannon CPU', 'rest CPU', 'requests', 'bad'],
      ...summary.map((s) => [
        s.label,
        fmt(s.rps),
        fmt(s.p50),
        fmt(s.p99),
        pct(s.serverCpu),
        fmt(s.serverUsPerRequest),
        s.key === 'a' ? '(same)' : pct(s.subgraphCpu),
        pct(s.loadCpu),
        pct(s.restCpu),
        fmt(s.requests),
        fmt(s.bad),
      ]),
    ]),
  );
  console.log('(medians over rounds. CPU = CPU seconds per wall second, 100% = one of the 2 cores: server = the target process');
  console.log(' (µs/req: its CPU time per request), subgraph = identity behind a gateway, autocannon = this process,');
  console.log(' rest = PostgreSQL, Redis and anything else running on the machine)');
  console.log('');

  const ratios: Record<string, number> = {};
  const budgets: { name: string; value: number; min: number }[] = [];
  const ratio = (x: TargetKey, y: TargetKey, min?: number) => {
    const vx = rps(x);
    const vy = rps(y);
    if (vx === undefined || vy === undefined) return;
    const value = vx / vy;
    ratios[`${x}/${y}`] = value;
    if (min !== undefined) budgets.push({ name: `${x}/${y}`, value, min });
    console.log(
      `${`${x}/${y}`.padEnd(5)} = ${fmt(value, 2)}` +
        (min !== undefined ? `  (budget >= ${fmt(min, 2)}: ${value >= min ? 'met' : 'MISSED'})` : '  (control, no budget)'),
    );
  };
  ratio('b', 'a', 0.4);
  ratio('b', 'c', 2);
  ratio('b0', 'a');
  ratio('b0', 'c');

  if (options.json) {
    writeFileSync(options.json, JSON.stringify({ options: { ...options, cpuProf: [...options.cpuProf] }, summary, ratios }, null, 2) + '\n');
  }
  if (options.cpuProf.size) console.log(`CPU profiles (written as the servers exit): ${join(here, 'profiles')}`);

  const bad = summary.some((s) => s.bad > 0);
  if (bad) console.error('FAILED: some responses were wrong (see "bad"); the numbers do not count.');
  const missed = budgets.some((b) => b.value < b.min);
  return bad || (options.check && missed) ? 1 : 0;
}

runBench(main);
