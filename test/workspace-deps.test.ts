// Package boundaries, checked from the source: every workspace declares what it imports, and no
// workspace reaches into another package's files by relative path.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readManifest = (dir: string) => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;

/** The workspace folders of the root package.json, globs expanded. */
function workspaces(): string[] {
  const globs = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  return globs.flatMap((glob) => {
    if (!glob.endsWith('/*')) return [glob];
    const parent = glob.slice(0, -2);
    return readdirSync(join(root, parent))
      .filter((name) => existsSync(join(root, parent, name, 'package.json')))
      .map((name) => `${parent}/${name}`);
  });
}

const SKIP = new Set(['node_modules', 'generated', 'dist', 'build', 'test-results', '.data']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(m?[jt]sx?)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// Static imports and re-exports (also multi-line and type-only), dynamic import() and require().
const SPECIFIER =
  /(?:^|[^\w.$])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importsOf(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`; undefined for relative paths and Node builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtinModules.includes(name) ? undefined : name;
}

/** The folder of the nearest package.json above `path` (the root package for files outside every workspace). */
function ownerOf(path: string): string {
  let dir = dirname(path);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return relative(root, dir) || '.';
}

/**
 * Workspaces that only tests, scripts and bench use: their own imports are devDependencies, so that
 * a production install (npm ci --omit=dev, the Dockerfile) leaves Hardhat, solc and the rest out.
 */
const DEV_ONLY = new Set(['testkit']);

/** Runtime code: `src/` (and circuits' entry); everything else (tests, scripts, configs) may use devDependencies too. */
const isRuntime = (workspace: string, file: string) =>
  !DEV_ONLY.has(workspace) && (file.startsWith('src/') || (workspace === 'circuits' && file === 'index.ts'));

/** The root package's own code: the integration host of the workspaces. */
const ROOT_FOLDERS = ['test', 'scripts', 'bench'];
const ROOT_FILES = ['codegen.ts', 'vitest.config.ts', 'eslint.config.js', 'subgraphs/index.ts'];

// Deliberate exceptions to "no relative path into another package", each with its reason.
const RELATIVE_EXCEPTIONS: { from: string; under: string; why: string }[] = [
  { from: 'clients/web', under: 'clients/generated/', why: 'the typed documents codegen writes for every client, beside the web app' },
];

describe('workspace boundaries', () => {
  const all = workspaces();
  const names = new Set(all.map((w) => readManifest(w).name));

  it('finds the workspaces and their imports (the scanner itself works)', () => {
    expect(all).toEqual(expect.arrayContaining(['platform', 'testkit', 'gateway', 'subgraphs/catalog', 'clients/web']));
    // Built from parts so that this file's own scan does not read the fixture as imports.
    const [imp, exp] = ['im' + 'port', 'ex' + 'port'];
    expect(
      importsOf(`${imp} a from 'x';\n${imp} type { B } from '@s/y/z';\n${exp} * from './w.ts';\n${imp} {\n  c,\n  type D,\n} from 'v';\nawait ${imp}('u');`),
    ).toEqual(['x', '@s/y/z', './w.ts', 'v', 'u']);
    expect(['x', '@s/y/z', './w.ts', 'node:fs', 'fs/promises'].map(packageOf)).toEqual(['x', '@s/y', undefined, undefined, undefined]);
  });

  it.each(all)('%s declares every package it imports (src in dependencies; tests and scripts in either)', (workspace) => {
    const manifest = readManifest(workspace);
    const runtime = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    const any = new Set([...runtime, ...Object.keys(manifest.devDependencies ?? {})]);
    const undeclared: string[] = [];
    for (const path of sourceFiles(join(root, workspace))) {
      if (ownerOf(path) !== workspace) continue; // a nested package (none today) answers for itself
      const file = relative(join(root, workspace), path);
      for (const specifier of importsOf(readFileSync(path, 'utf8'))) {
        const name = packageOf(specifier);
        if (!name || name === manifest.name) continue;
        const declared = isRuntime(workspace, file) ? runtime : any;
        if (!declared.has(name))
          undeclared.push(`${file} imports ${specifier}: add ${name} to ${isRuntime(workspace, file) ? 'dependencies' : 'devDependencies'}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it.each(all)('%s declares only workspaces that exist, and no package in both dependencies and devDependencies', (workspace) => {
    const manifest = readManifest(workspace);
    const declared = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})];
    expect(declared.filter((name) => name.startsWith('@vibestream/') && !names.has(name))).toEqual([]);
    expect(Object.keys(manifest.devDependencies ?? {}).filter((name) => manifest.dependencies?.[name])).toEqual([]);
  });

  it('keeps test harnesses out of production installs: no run-time dependency on a dev-only workspace, which has none itself', () => {
    for (const workspace of DEV_ONLY) expect(Object.keys(readManifest(workspace).dependencies ?? {})).toEqual([]);
    const devOnlyNames = [...DEV_ONLY].map((w) => readManifest(w).name);
    const edges = all.flatMap((w) =>
      Object.keys(readManifest(w).dependencies ?? {})
        .filter((name) => devOnlyNames.includes(name))
        .map((name) => `${w} -> ${name}`),
    );
    expect(edges).toEqual([]);
  });

  it('keeps the kernel at the bottom: platform depends on no gateway, testkit or context at run time', () => {
    const runtime = Object.keys(readManifest('platform').dependencies ?? {});
    expect(runtime.filter((name) => name.startsWith('@vibestream/'))).toEqual([]);
  });

  it('keeps the contexts apart: no subgraph depends on another at run time (events are typed by @vibestream/contracts)', () => {
    const contexts = all.filter((w) => w.startsWith('subgraphs/')).map((w) => readManifest(w).name);
    const edges = all
      .filter((w) => w.startsWith('subgraphs/'))
      .flatMap((w) =>
        Object.keys(readManifest(w).dependencies ?? {})
          .filter((name) => contexts.includes(name))
          .map((name) => `${w} -> ${name}`),
      );
    expect(edges).toEqual([]);
  });

  it.each(all)("%s imports no other package's files by relative path (import its package entry instead)", (workspace) => {
    const crossings: string[] = [];
    for (const path of sourceFiles(join(root, workspace))) {
      const from = ownerOf(path);
      for (const specifier of importsOf(readFileSync(path, 'utf8'))) {
        if (!specifier.startsWith('.')) continue;
        const target = resolve(dirname(path), specifier.split('?')[0]!);
        const to = ownerOf(target);
        if (to === from || RELATIVE_EXCEPTIONS.some((e) => e.from === from && relative(root, target).startsWith(e.under))) continue;
        crossings.push(`${relative(root, path)} imports ${specifier}, a file of ${to === '.' ? 'the root package' : to}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it('the root package declares what its tests, scripts and bench import (the workspaces included)', () => {
    const manifest = readManifest('.');
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})]);
    const files = [...ROOT_FOLDERS.flatMap((dir) => sourceFiles(join(root, dir))), ...ROOT_FILES.map((file) => join(root, file))];
    const undeclared: string[] = [];
    for (const path of files) {
      if (ownerOf(path) !== '.') continue;
      for (const specifier of importsOf(readFileSync(path, 'utf8'))) {
        const name = packageOf(specifier);
        if (name && name !== manifest.name && !declared.has(name))
          undeclared.push(`${relative(root, path)} imports ${specifier}: add ${name} to the root devDependencies`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('the root package (tests, scripts, bench) reaches workspaces through their package entries too', () => {
    const crossings: string[] = [];
    for (const dir of ROOT_FOLDERS) {
      for (const path of sourceFiles(join(root, dir))) {
        for (const specifier of importsOf(readFileSync(path, 'utf8'))) {
          if (!specifier.startsWith('.')) continue;
          const to = ownerOf(resolve(dirname(path), specifier.split('?')[0]!));
          if (to !== '.') crossings.push(`${relative(root, path)} imports ${specifier}, a file of ${to}`);
        }
      }
    }
    expect(crossings).toEqual([]);
  });
});
