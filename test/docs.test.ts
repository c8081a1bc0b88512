// The documents stay true: README.md, docs/*.md and each workspace's README.md link only to files
// (and headings) that exist, name only paths that exist, name only environment variables that a
// config schema declares (the same source as docs/configuration.md, scripts/environment.ts) or
// that a test, benchmark, CI or container file reads, and the README stays short.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '@vibestream/platform';
import { configScopes } from '../scripts/environment.ts';

const README_MAX_LINES = 200;

/** README.md, docs/*.md and the README.md of every workspace (and of the gateway's limits). */
function documents(): string[] {
  const docs = readdirSync(join(projectRoot, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const workspaces = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).workspaces as string[]).flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(projectRoot, pattern.slice(0, -2)))
          .map((name) => `${pattern.slice(0, -2)}/${name}`)
          .filter((dir) => statSync(join(projectRoot, dir)).isDirectory())
      : [pattern],
  );
  const packageReadmes = [...workspaces, 'circuits', 'bench', 'gateway/src/limits']
    .map((dir) => `${dir}/README.md`)
    .filter((path) => existsSync(join(projectRoot, path)));
  return ['README.md', ...docs, ...packageReadmes];
}

const read = (path: string) => readFileSync(join(projectRoot, path), 'utf8');
/** The text outside fenced code blocks (a `# comment` in a shell block is not a heading). */
const prose = (text: string) => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
const codeSpans = (text: string) => [...prose(text).matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);

/** GitHub's heading anchors. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = match[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

describe('the documents', () => {
  const files = documents();

  it('include the README, docs/ and a README per subgraph, the gateway and the platform', () => {
    for (const path of [
      'README.md',
      'docs/architecture.md',
      'docs/operations.md',
      'docs/security.md',
      'docs/configuration.md',
      'gateway/README.md',
      'platform/README.md',
    ]) {
      expect(files).toContain(path);
    }
    for (const dir of readdirSync(join(projectRoot, 'subgraphs'))) {
      if (existsSync(join(projectRoot, 'subgraphs', dir, 'package.json'))) expect(files).toContain(`subgraphs/${dir}/README.md`);
    }
  });

  it(`keep the README under ${README_MAX_LINES} lines`, () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it('link only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const match of prose(read(file)).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = match[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [path = '', anchor] = target.split('#');
        const resolved = path === '' ? join(projectRoot, file) : resolve(dirname(join(projectRoot, file)), decodeURIComponent(path));
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${target} (no such heading in ${relative(projectRoot, resolved)})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('name only paths that exist', () => {
    // Built or written at run time, git-ignored: named in the docs, absent from a clean clone.
    const generated = (path: string) => ['clients/web/dist', 'clients/web/test-results/'].includes(path) || /^bench\/\w+\/(profiles|results)\//.test(path);
    const repositoryPath = /^(?:platform|gateway|subgraphs|testkit|contracts|test|scripts|clients|circuits|bench|schema|docs|tools)\/[\w./-]*$/;
    // In a package's README, `src/...` and the like are that package's own.
    const packagePath = /^(?:src|test|contracts|scripts)\/[\w./-]*$/;
    const missing: string[] = [];
    for (const file of files) {
      const dir = dirname(file);
      const inPackage = file !== 'README.md' && !file.startsWith('docs/');
      for (const span of codeSpans(read(file))) {
        if (!(repositoryPath.test(span) || (inPackage && packagePath.test(span))) || generated(span)) continue;
        const candidates = [join(projectRoot, dir, span), join(projectRoot, span)];
        if (!candidates.some((path) => existsSync(path))) missing.push(`${file}: ${span}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('name only environment variables that exist', () => {
    const declared = [...new Set(configScopes().flatMap((scope) => Object.keys(scope.shape)))];
    // Read by tests, benchmarks, CI and the container files rather than by a process's config.
    const elsewhere = outsideConfigText();
    // Set by the code itself (the gateway turns Apollo's telemetry off before loading it), and
    // constants the code declares (a README may name one, e.g. a limit fixed in a module).
    const notSettings = new Set(['APOLLO_TELEMETRY_DISABLED', ...codeConstants()]);
    // Upper-case words that are not variables: the contract's error codes and the schema's enum values.
    const vocabulary = new Set([
      ...`${read('schema/api.graphql')}\n${read('platform/src/errors.ts')}`.match(/\b[A-Z][A-Z0-9_]+\b/g)!,
      'GRAPHQL_VALIDATION_FAILED',
      'GRAPHQL_PARSE_FAILED',
      'PERSISTED_QUERY_NOT_FOUND',
      'PERSISTED_QUERY_NOT_SUPPORTED',
      'BAD_REQUEST',
    ]);
    const unknown: string[] = [];
    for (const file of files) {
      if (file === 'docs/configuration.md') continue; // generated from the schemas themselves
      for (const span of codeSpans(read(file))) {
        const name = /^([A-Z][A-Z0-9]*(?:_(?:[A-Z0-9]+|\*|<[A-Z]+>))+)(?=$|[=:\s])/.exec(span)?.[1];
        if (!name || vocabulary.has(name) || notSettings.has(name)) continue;
        const pattern = new RegExp(`^${name.replace(/\*|<[A-Z]+>/g, '[A-Z0-9_]+')}$`);
        const known = declared.some((d) => pattern.test(d)) || elsewhere.some((w) => pattern.test(w));
        if (!known) unknown.push(`${file}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});

/** Upper-case words in the tests, benchmarks, test kit, CI script and container files. */
/** Upper-case names the sources declare as constants (`const MAX_THINGS = 20`), which are not settings. */
function codeConstants(): string[] {
  const names = new Set<string>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts'))
        for (const [, constant] of readFileSync(path, 'utf8').matchAll(/\bconst ([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*[:=]/g)) names.add(constant!);
    }
  };
  for (const dir of ['platform', 'gateway', 'subgraphs', 'contracts']) walk(join(projectRoot, dir, 'src'));
  for (const dir of readdirSync(join(projectRoot, 'subgraphs'))) walk(join(projectRoot, 'subgraphs', dir, 'src'));
  return [...names];
}

function outsideConfigText(): string[] {
  const words = new Set<string>();
  const add = (path: string) => {
    for (const word of readFileSync(path, 'utf8').match(/\b[A-Z][A-Z0-9_]{2,}\b/g) ?? []) words.add(word);
  };
  const walk = (dir: string, all: boolean) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, all || name === 'test');
      else if (all && /\.(ts|sh)$/.test(name)) add(path);
    }
  };
  for (const dir of ['platform', 'gateway', 'subgraphs', 'clients', 'circuits']) walk(join(projectRoot, dir), false);
  for (const dir of ['test', 'bench', 'testkit']) walk(join(projectRoot, dir), true);
  for (const file of ['.ci/run', 'Dockerfile', 'docker-compose.yml']) if (existsSync(join(projectRoot, file))) add(join(projectRoot, file));
  return [...words];
}
