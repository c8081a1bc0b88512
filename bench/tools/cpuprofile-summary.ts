/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package,
 * and total (inclusive) time of the functions whose name matches an optional filter.
 *   node bench/tools/cpuprofile-summary.ts FILE [--top=N] [--match=REGEX]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' }, match: { type: 'string' } } });
const file = positionals[0];
if (!file) throw new Error('usage: cpuprofile-summary.ts FILE [--top=N] [--match=REGEX]');
const top = Number(values.top ?? 40);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const all = [...self.values()].reduce((a, b) => a + b, 0);
let idle = 0;
for (const [id, t] of self) if (byId.get(id)!.callFrame.functionName === '(idle)') idle += t;
/** Percentages are of the busy (non-idle) time. */
const total = all - idle;

const where = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.startsWith('node:') ? url : url ? url.replace(/^.*\/work\/main\//, '') : '(native)');
  return pkg;
};
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;

const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const selfByFn = new Map<string, number>();
const selfByPkg = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  if (n.callFrame.functionName === '(idle)') continue;
  bump(selfByFn, label(n), t);
  bump(selfByPkg, n.callFrame.url ? where(n) : n.callFrame.functionName, t);
}
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`sampled ${(all / 1e6).toFixed(2)} s, busy ${(total / 1e6).toFixed(2)} s; percentages are of the busy time`);
show('self time by package', selfByPkg);
show('self time by function', selfByFn);

if (values.match) {
  const re = new RegExp(values.match);
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const l = label(n);
      if (re.test(l) && !seen.has(l)) {
        seen.add(l);
        bump(inclusive, l, t);
      }
    }
  }
  show(`inclusive time of functions matching ${values.match}`, inclusive);
}
