/**
 * Gateway benchmark (`npm run bench:gateway`): the `me` query, side by side in one run,
 *   (a) straight to the identity subgraph,
 *   (b) through our gateway (startGateway),
 *   (c) through a stock ApolloServer({ gateway: new ApolloGateway(...) }) on the same supergraph,
 * each server in its own child process, autocannon in this process. Prints req/s and
 * latency per target and the ratios b/a (budget >= 0.4) and b/c (budget >= 2).
 *
 * Options (flag or environment variable):
 *   --duration=S      BENCH_DURATION     seconds measured per target and round (10)
 *   --warmup=S        BENCH_WARMUP       seconds of warm-up per target before its first round (3)
 *   --connections=N   BENCH_CONNECTIONS  concurrent connections (10)
 *   --rounds=N        BENCH_ROUNDS       rounds of a, b, c; medians are reported (1)
 *   --cpu-prof=ROLES  BENCH_CPU_PROF     comma list of subgraph,gateway,stock to run under
 *                                        `node --cpu-prof`; profiles land in bench/gateway/profiles
 *   --json=FILE       BENCH_JSON         also write the results as JSON
 *   --check           BENCH_CHECK=1      exit 1 when a budget is missed
 * A target that answers any request wrongly (non-2xx, error, body not the expected one) fails
 * the run (exit 1) whatever the numbers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { Redis, composeSupergraph } from '@vibestream/platform';
import { createTestEnv } from '@vibestream/platform/testing';
import { identitySubgraph } from '@vibestream/identity';
import type { ChildMessage, Role, ServerTarget } from './protocol.ts';

const here = dirname(fileURLToPath(import.meta.url));

const ME = 'query Me { me { id email displayName roles createdAt wallets { chain address linkedAt } } }';
const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    check: { type: 'boolean' },
  },
});

function numberOption(flag: string | undefined, envName: string, fallback: number, min: number): number {
  const raw = flag ?? process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${envName} / --${envName.slice(6).toLowerCase()} must be a number >= ${min}`);
  return value;
}

const options = {
  duration: numberOption(flags.duration, 'BENCH_DURATION', 10, 1),
  warmup: numberOption(flags.warmup, 'BENCH_WARMUP', 3, 0),
  connections: Math.round(numberOption(flags.connections, 'BENCH_CONNECTIONS', 10, 1)),
  rounds: Math.round(numberOption(flags.rounds, 'BENCH_ROUNDS', 1, 1)),
  cpuProf: new Set((flags['cpu-prof'] ?? process.env.BENCH_CPU_PROF ?? '').split(',').filter(Boolean)),
  json: flags.json ?? process.env.BENCH_JSON,
  check: flags.check ?? process.env.BENCH_CHECK === '1',
};

interface Target {
  key: 'a' | 'b' | 'c';
  label: string;
  role: Role;
  url: string;
  pid: number;
  expectBody: string;
}

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  /** CPU seconds per second of wall time of the target's own server process (1.0 = one core). */
  serverCpu: number | null;
  subgraphCpu: number | null;
  requests: number;
  bad: number;
}

const children = new Set<ChildProcess>();
let cleanup: (() => Promise<void>) | null = null;

function startChild(role: Role, env: NodeJS.ProcessEnv, supergraphSdl?: string): Promise<ServerTarget> {
  const execArgv = [...process.execArgv];
  if (options.cpuProf.has(role)) {
    const dir = join(here, 'profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`);
  }
  const child = fork(join(here, 'server.ts'), [], {
    execArgv,
    env: { ...process.env, APOLLO_TELEMETRY_DISABLED: 'true', LOG_LEVEL: env.LOG_LEVEL },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start within 60 s`)), 60_000);
    child.on('message', (message: ChildMessage) => {
      clearTimeout(timer);
      if (message.type === 'ready') resolve(message);
      else reject(new Error(`${role} failed to start:\n${message.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited (code ${code}) before it was ready`));
    });
    child.send({ type: 'start', role, env, supergraphSdl });
  });
}

async function stopChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (child.connected) child.send({ type: 'stop' });
          else child.kill('SIGTERM');
        }),
    ),
  );
}

/** utime + stime of a process in seconds (Linux); null elsewhere. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

async function post(url: string, query: string, variables: Record<string, unknown>, token?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, text: await response.text() };
}

function load(target: Target, token: string, seconds: number): Promise<Result> {
  return Promise.resolve(
    autocannon({
      url: target.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: ME, operationName: 'Me' }),
      connections: options.connections,
      duration: seconds,
      timeout: 10,
      expectBody: target.expectBody,
    }),
  );
}

async function measure(target: Target, token: string, subgraphPid: number): Promise<Measurement> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = cpuSeconds(target.pid);
  const subgraphStart = target.pid === subgraphPid ? null : cpuSeconds(subgraphPid);
  const result = await load(target, token, options.duration);
  const wall = Number(process.hrtime.bigint() - wallStart) / 1e9;
  const cpuEnd = cpuSeconds(target.pid);
  const subgraphEnd = subgraphStart === null ? null : cpuSeconds(subgraphPid);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu: cpuStart !== null && cpuEnd !== null ? (cpuEnd - cpuStart) / wall : null,
    subgraphCpu: subgraphStart !== null && subgraphEnd !== null ? (subgraphEnd - subgraphStart) / wall : null,
    requests: result.requests.total,
    bad: result.errors + result.timeouts + result.non2xx + result.mismatches,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

function fmt(n: number | null, digits = 0): string {
  return n === null || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
}

async function main(): Promise<number> {
  console.log(
    `gateway bench: me query, ${options.connections} connections, ${options.warmup} s warm-up, ${options.duration} s x ${options.rounds} round(s) per target, node ${process.version}`,
  );
  const { env, database } = await createTestEnv('benchgw', {
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    PASSWORD_SCRYPT_LOG2N: '10',
    OUTBOX_RELAY_INTERVAL_MS: '1000',
    NODE_ENV: 'test',
  });
  cleanup = async () => {
    await stopChildren();
    const redis = new Redis(env.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.REDIS_PREFIX}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } catch {
      // Redis keys of a bench prefix are harmless leftovers.
    } finally {
      redis.disconnect();
    }
    await database.drop();
  };

  const subgraph = await startChild('subgraph', env);
  const { supergraph } = composeSupergraph([identitySubgraph], () => subgraph.url);
  const [gateway, stock] = await Promise.all([startChild('gateway', env, supergraph), startChild('stock', env, supergraph)]);

  const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
  const registered = await post(subgraph.url, REGISTER, { input: { email, password: 'a-long-password', displayName: 'Bench' } });
  const register = JSON.parse(registered.text) as { data?: { register: { accessToken: string } }; errors?: unknown };
  if (!register.data) throw new Error(`register failed: ${registered.text}`);
  const token = register.data.register.accessToken;

  const servers: Omit<Target, 'expectBody'>[] = [
    { key: 'a', label: '(a) identity subgraph, direct', role: 'subgraph', url: subgraph.url, pid: subgraph.pid },
    { key: 'b', label: '(b) our gateway', role: 'gateway', url: gateway.url, pid: gateway.pid },
    { key: 'c', label: '(c) stock ApolloServer + ApolloGateway', role: 'stock', url: stock.url, pid: stock.pid },
  ];
  // Every target must answer the same data; each reply's exact text is then what autocannon expects.
  const targets: Target[] = [];
  let reference: unknown;
  for (const server of servers) {
    const { status, text } = await post(server.url, ME, {}, token);
    const body = JSON.parse(text) as { data?: { me?: { email?: string } }; errors?: unknown };
    if (status !== 200 || body.errors || body.data?.me?.email !== email) throw new Error(`${server.label} answered ${status} ${text}`);
    if (reference === undefined) reference = body.data;
    else if (!isDeepStrictEqual(reference, body.data)) throw new Error(`${server.label} answered other data: ${text}`);
    targets.push({ ...server, expectBody: text });
  }

  const results = new Map<Target['key'], Measurement[]>(targets.map((t) => [t.key, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of targets) {
      if (round === 1 && options.warmup > 0) {
        process.stdout.write(`warming up ${target.label} ...\n`);
        await load(target, token, options.warmup);
      }
      const m = await measure(target, token, subgraph.pid);
      results.get(target.key)!.push(m);
      console.log(
        `round ${round}/${options.rounds} ${target.label}: ${fmt(m.rps)} req/s, p99 ${fmt(m.p99)} ms` + (m.bad ? `, ${m.bad} BAD RESPONSES` : ''),
      );
    }
  }

  const summary = targets.map((t) => {
    const ms = results.get(t.key)!;
    const cpu = ms.map((m) => m.serverCpu).filter((x): x is number => x !== null);
    const subCpu = ms.map((m) => m.subgraphCpu).filter((x): x is number => x !== null);
    return {
      key: t.key,
      label: t.label,
      rps: median(ms.map((m) => m.rps)),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      serverCpu: cpu.length ? median(cpu) : null,
      subgraphCpu: subCpu.length ? median(subCpu) : null,
      requests: ms.reduce((s, m) => s + m.requests, 0),
      bad: ms.reduce((s, m) => s + m.bad, 0),
    };
  });
  const by = (k: Target['key']) => summary.find((s) => s.key === k)!;
  const ratioBA = by('b').rps / by('a').rps;
  const ratioBC = by('b').rps / by('c').rps;

  console.log('');
  console.log(
    table([
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'server CPU', 'subgraph CPU', 'requests', 'bad'],
      ...summary.map((s) => [
        s.label,
        fmt(s.rps),
        fmt(s.p50),
        fmt(s.p99),
        s.serverCpu === null ? '-' : `${fmt(s.serverCpu * 100)}%`,
        s.key === 'a' ? '(same)' : s.subgraphCpu === null ? '-' : `${fmt(s.subgraphCpu * 100)}%`,
        fmt(s.requests),
        fmt(s.bad),
      ]),
    ]),
  );
  const passBA = ratioBA >= 0.4;
  const passBC = ratioBC >= 2;
  console.log('');
  console.log(`b/a = ${fmt(ratioBA, 2)}  (budget >= 0.40: ${passBA ? 'met' : 'MISSED'})`);
  console.log(`b/c = ${fmt(ratioBC, 2)}  (budget >= 2.00: ${passBC ? 'met' : 'MISSED'})`);
  console.log('(req/s and latency are medians over rounds; CPU is the server process\'s CPU time per wall second, 100% = one core)');

  if (options.json) {
    writeFileSync(options.json, JSON.stringify({ options: { ...options, cpuProf: [...options.cpuProf] }, summary, ratios: { ba: ratioBA, bc: ratioBC } }, null, 2) + '\n');
  }
  if (options.cpuProf.size) console.log(`CPU profiles (written as the servers exit): ${join(here, 'profiles')}`);

  const bad = summary.some((s) => s.bad > 0);
  if (bad) console.error('FAILED: some responses were wrong (see "bad"); the numbers do not count.');
  return bad || (options.check && !(passBA && passBC)) ? 1 : 0;
}

let exiting = false;
async function finish(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  try {
    await cleanup?.();
  } catch (error) {
    console.error('cleanup failed:', error);
    code = code || 1;
  }
  process.exit(code);
}

process.once('SIGINT', () => void finish(130));
process.once('SIGTERM', () => void finish(143));

main().then(
  (code) => finish(code),
  (error: unknown) => {
    console.error(error);
    return finish(1);
  },
);
