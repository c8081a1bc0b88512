// Runs a fuzz campaign against a world: sends each planned case, checks each answer with the
// oracle, probes every process's readiness as it goes, and records unhandled rejections and
// uncaught exceptions in this process (the stack runs in it) with the requests in flight.
import { send, type RawOutcome, type RawRequest } from './http.ts';
import { playWebSocket } from './websocket.ts';
import type { Oracle } from './oracle.ts';
import type { FuzzCase, Planner } from './plan.ts';
import type { World } from './world.ts';

export interface Failure {
  check: string;
  detail: string;
  /** The case that broke the rule (absent for a readiness probe). */
  case?: FuzzCase;
  answer?: string;
}

export interface ProcessError {
  kind: 'unhandledRejection' | 'uncaughtException';
  message: string;
  stack: string;
  /** The cases sent last before it happened (a rejection surfaces a little after its request): the culprit is among them. */
  during: FuzzCase[];
}

export interface FuzzReport {
  seed: number;
  planned: number;
  sent: number;
  seconds: number;
  /** Why the run stopped before `planned` (its time limit), if it did. */
  stoppedEarly?: string;
  failures: Failure[];
  readiness: Failure[];
  processErrors: ProcessError[];
  /** Answers by status, per kind of case: what the run reached. */
  statuses: Record<string, Record<string, number>>;
  /** Each principal's `{ me { id } }` after the run: whether the fuzzing left its session usable. */
  sessions: Record<string, string>;
}

export interface RunOptions {
  seed: number;
  requests: number;
  timeLimitMs: number;
  requestTimeoutMs: number;
  concurrency: number;
  /** Probe every process's /readyz after this many requests. */
  probeEvery: number;
  /** Send only these indices of the run (a replay); all of 0..requests-1 when absent. */
  only?: number[];
}

export async function runFuzz(world: World, planner: Planner, oracle: Oracle, options: RunOptions): Promise<FuzzReport> {
  const report: FuzzReport = {
    seed: options.seed,
    planned: options.requests,
    sent: 0,
    seconds: 0,
    failures: [],
    readiness: [],
    processErrors: [],
    statuses: {},
    sessions: {},
  };
  /** The last few cases started, newest last. */
  const recent: FuzzCase[] = [];
  const record = (kind: ProcessError['kind']) => (error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    report.processErrors.push({ kind, message: err.message, stack: (err.stack ?? '').split('\n').slice(0, 8).join('\n'), during: [...recent] });
  };
  const onRejection = record('unhandledRejection');
  const onException = record('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);

  const started = Date.now();
  const indices = options.only ?? Array.from({ length: options.requests }, (_, i) => i);
  report.planned = indices.length;
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      if (Date.now() - started > options.timeLimitMs) {
        report.stoppedEarly ??= `time limit of ${options.timeLimitMs / 1000} s reached after ${report.sent} requests`;
        return;
      }
      const index = indices[next++]!;
      let fuzzCase: FuzzCase;
      try {
        fuzzCase = planner.case(index);
      } catch (error) {
        // A bug of the fuzzer's own: reported (the run's first test fails on it), and the run goes on.
        report.failures.push({
          check: 'fuzzer',
          detail: `case #${index} (FUZZ_SEED=${options.seed}) could not be made: ${(error as Error).stack ?? String(error)}`,
        });
        continue;
      }
      recent.push(fuzzCase);
      if (recent.length > options.concurrency + 2) recent.shift();
      const outcome = fuzzCase.ws
        ? await playWebSocket(fuzzCase.port, fuzzCase.ws, 150)
        : await send(fuzzCase.port, fuzzCase.request, options.requestTimeoutMs);
      report.sent++;
      const status = 'response' in outcome ? String(outcome.response.status) : outcome.error;
      const ofKind = (report.statuses[fuzzCase.kind] ??= {});
      ofKind[status] = (ofKind[status] ?? 0) + 1;
      for (const violation of oracle.inspect(outcome, sentText(fuzzCase.request), fuzzCase.expect)) {
        report.failures.push({ ...violation, case: fuzzCase, answer: answerText(outcome) });
      }
      if (report.sent % options.probeEvery === 0) report.readiness.push(...(await probeReadiness(world, `after ${report.sent} requests`)));
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    // Let a late rejection from the last requests surface before the listeners go.
    await new Promise((resolve) => setTimeout(resolve, 500));
    report.readiness.push(...(await probeReadiness(world, 'at the end')));
    report.sessions = await probeSessions(world);
  } finally {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** GET /readyz on the gateway and every subgraph: each must answer 200. */
export async function probeReadiness(world: World, when: string): Promise<Failure[]> {
  const targets: [string, number][] = [['gateway', world.gatewayPort], ...world.subgraphPorts];
  const answers = await Promise.all(
    targets.map(async ([name, port]) => [name, await send(port, { method: 'GET', path: '/readyz', headers: [] }, 5_000)] as const),
  );
  return answers
    .filter(([, outcome]) => !('response' in outcome) || outcome.response.status !== 200)
    .map(([name, outcome]) => ({
      check: 'not-ready',
      detail: `${name} /readyz ${when}: ${'response' in outcome ? `HTTP ${outcome.response.status} ${outcome.response.body.toString().slice(0, 200)}` : outcome.detail}`,
    }));
}

/** Who each principal still is: `{ me { id } }` with its token. */
async function probeSessions(world: World): Promise<Record<string, string>> {
  const sessions: Record<string, string> = {};
  for (const [name, authorization] of Object.entries(world.principals)) {
    if (!authorization) continue;
    const body = Buffer.from(JSON.stringify({ query: '{ me { id } }' }));
    const outcome = await send(
      world.gatewayPort,
      {
        method: 'POST',
        path: '/graphql',
        headers: [
          ['content-type', 'application/json'],
          ['authorization', authorization],
        ],
        body,
      },
      5_000,
    );
    sessions[name] =
      'response' in outcome
        ? outcome.response.status === 200 && /"me":\{"id"/.test(outcome.response.body.toString())
          ? 'signed in'
          : `HTTP ${outcome.response.status}`
        : outcome.error;
  }
  return sessions;
}

/** The request as text, for the oracle to tell echoed input from leaks. */
function sentText(request: RawRequest): string {
  return `${request.method} ${request.path}\n${request.headers.map(([n, v]) => `${n}: ${v}`).join('\n')}\n${request.body?.toString('utf8') ?? ''}`;
}

function answerText(outcome: RawOutcome): string {
  if (!('response' in outcome)) return outcome.detail;
  return `HTTP ${outcome.response.status} ${outcome.response.body.toString('utf8').slice(0, 600)}`;
}

/** A case as a reader (and a replay) needs it: seed, index, target, and the request with tokens named, not shown. */
export function describeCase(fuzzCase: FuzzCase, runSeed: number, world: World): string {
  const { request } = fuzzCase;
  const tokens = new Map(Object.entries(world.principals).flatMap(([name, value]) => (value ? [[value, `<${name} token>`] as const] : [])));
  const headers = request.headers.map(([n, v]) => `${n}: ${truncate(tokens.get(v) ?? v, 200)}`).join('\n    ');
  const body = request.body
    ? truncate(
        request.body.toString('utf8').replace(/([^])\1{40,}/g, (run, c: string) => `${c}…(${run.length} times)`),
        1200,
      )
    : '';
  return [
    `#${fuzzCase.index} (FUZZ_SEED=${runSeed}, case seed ${fuzzCase.seed}) ${fuzzCase.kind} -> ${fuzzCase.target} as ${fuzzCase.principal}: ${fuzzCase.label}`,
    `    ${request.method} ${truncate(request.path, 300)}`,
    ...(headers ? [`    ${headers}`] : []),
    ...(body ? [`    ${body}`] : []),
  ].join('\n');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** The report as text: per check, how many cases broke it and the first few, each with its request and answer. */
export function formatReport(report: FuzzReport, world: World, examples = 3): string {
  const lines = [
    `fuzz: FUZZ_SEED=${report.seed}, ${report.sent}/${report.planned} requests in ${report.seconds.toFixed(1)} s${report.stoppedEarly ? ` (${report.stoppedEarly})` : ''}`,
    ...Object.entries(report.statuses).map(([kind, statuses]) => `  ${kind}: ${JSON.stringify(statuses)}`),
    `sessions at the end: ${Object.entries(report.sessions)
      .map(([name, state]) => `${name} ${state}`)
      .join(', ')}`,
  ];
  if (world.missing.length) lines.push(`fixtures missing: ${world.missing.join('; ')}`);
  const byCheck = new Map<string, Failure[]>();
  for (const failure of report.failures) byCheck.set(failure.check, [...(byCheck.get(failure.check) ?? []), failure]);
  for (const [check, failures] of byCheck) {
    lines.push('', `${check}: ${failures.length} answer(s)`);
    for (const failure of failures.slice(0, examples)) {
      if (!failure.case) lines.push(`    ${failure.detail}`);
      else lines.push(describeCase(failure.case, report.seed, world), `    => ${failure.detail}`, `    answer: ${truncate(failure.answer ?? '', 400)}`);
    }
  }
  if (report.readiness.length) lines.push('', `not-ready: ${report.readiness.length}`, ...report.readiness.slice(0, 10).map((f) => `    ${f.detail}`));
  for (const error of report.processErrors.slice(0, 5)) {
    lines.push(
      '',
      `${error.kind}: ${error.message}`,
      `    ${error.stack.replace(/\n/g, '\n    ')}`,
      ...error.during.map((c) => describeCase(c, report.seed, world)),
    );
  }
  if (report.processErrors.length > 5) lines.push(`... and ${report.processErrors.length - 5} more process errors`);
  return lines.join('\n');
}
