// Every environment variable is declared in a config schema with a description, validated before
// anything starts, and documented in the generated .env.example and docs/configuration.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot, undescribedVariables } from '@vibestream/platform';
import { configScopes } from '../scripts/environment.ts';
import { environmentReference } from '../scripts/environment-reference.ts';
import { subgraphs } from '../subgraphs/index.ts';

const read = (path: string) => (existsSync(join(projectRoot, path)) ? readFileSync(join(projectRoot, path), 'utf8') : '');

describe('the environment reference', () => {
  it('.env.example and docs/configuration.md match the config schemas (run npm run env:reference)', () => {
    for (const [path, content] of Object.entries(environmentReference())) {
      expect(read(path), `${path} is stale: run npm run env:reference`).toBe(content);
    }
  });

  it('describes every variable of every scope, and has a scope for every subgraph', () => {
    const scopes = configScopes();
    expect(undescribedVariables(scopes)).toEqual([]);
    for (const module of subgraphs) expect(scopes.map((s) => s.id)).toContain(module.name);
  });

  it('declares every variable the code reads from the environment', () => {
    const declared = new Set(configScopes().flatMap((scope) => Object.keys(scope.shape)));
    // Set by the code itself (the gateway turns Apollo's telemetry off before loading it).
    const notSettings = new Set(['APOLLO_TELEMETRY_DISABLED']);
    const undeclared = new Set<string>();
    for (const file of [...sourceFiles(['platform/src', 'gateway/src', 'subgraphs', 'scripts']), join(projectRoot, 'clients/web/vite.config.ts')]) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/\b(?:process\.env|env|source)\.([A-Z][A-Z0-9_]{2,})\b/g)) {
        const name = match[1]!;
        if (!declared.has(name) && !notSettings.has(name)) undeclared.add(`${name} (${relative(projectRoot, file)})`);
      }
    }
    expect([...undeclared]).toEqual([]);
  });
});

/** TypeScript sources under `dirs`, without tests, test helpers, generated code and dependencies. */
function sourceFiles(dirs: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (['node_modules', 'test', 'testing', 'generated'].includes(name)) continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) files.push(path);
    }
  };
  for (const dir of dirs) walk(join(projectRoot, dir));
  return files;
}

describe('a bad variable stops a process before it starts anything', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vs-env-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  /** Runs an entry point with `overrides` over a clean environment (no DATABASE_URL: the embedded PostgreSQL would start). */
  const run = (script: string, overrides: NodeJS.ProcessEnv) => {
    const { DATABASE_URL: _d, REDIS_URL: _r, LOG_LEVEL: _l, ...inherited } = process.env;
    const result = spawnSync(process.execPath, [join(projectRoot, script)], {
      env: { ...inherited, NODE_ENV: 'development', VIBESTREAM_DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: '1', ...overrides },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: result.status, output: `${result.stdout}${result.stderr}` };
  };
  const expectConfigFailure = (result: { code: number | null; output: string }, lines: RegExp[]) => {
    expect(result.code, result.output).toBe(1);
    expect(result.output).toMatch(/failed to start: Invalid configuration:/);
    for (const line of lines) expect(result.output).toMatch(line);
    // One line per bad value: no stack trace, and nothing was started.
    expect(result.output).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
  };

  it('npm start: LOG_LEVEL=verbose is a configuration error, not a pino stack', () => {
    expectConfigFailure(run('scripts/start.ts', { LOG_LEVEL: 'verbose' }), [/^ {2}- LOG_LEVEL: .*"info"/m]);
  });

  it("npm start: every context's bad values at once, each on its own line, values never echoed", () => {
    const result = run('scripts/start.ts', {
      LOG_FORMAT: 'json',
      TAKER_FEE_BPS: 'lots',
      CATALOG_PORT: '99999',
      EMBEDDED_POSTGRES_PORT: 'five',
      OTEL_TRACES_EXPORTER: 'zipkin',
      SUBGRAPH_URL_IDENTITY: 'identity-host',
      JWT_PRIVATE_KEY: 'not-a-key-c2VjcmV0',
      WEB_APP_BUILD: 'maybe',
      DEMO_SEED: 'sometimes',
      MAX_QUERY_DEPTH: '-1',
    });
    expectConfigFailure(result, [
      /^ {2}- TAKER_FEE_BPS: /m,
      /^ {2}- CATALOG_PORT: must be a port/m,
      /^ {2}- EMBEDDED_POSTGRES_PORT: must be a whole number/m,
      /^ {2}- OTEL_TRACES_EXPORTER: /m,
      /^ {2}- SUBGRAPH_URL_IDENTITY: /m,
      /^ {2}- JWT_PRIVATE_KEY: must be an Ed25519 private key/m,
      /^ {2}- WEB_APP_BUILD: /m,
      /^ {2}- DEMO_SEED: /m,
      /^ {2}- MAX_QUERY_DEPTH: must be 0 or more/m,
    ]);
    expect(result.output).not.toContain('c2VjcmV0');
  });

  it('a subgraph run alone, and the gateway run alone', () => {
    expectConfigFailure(run('subgraphs/ownership/src/main.ts', { TAKER_FEE_BPS: '5000', LOG_FORMAT: 'loud' }), [/^ {2}- LOG_FORMAT: /m]);
    expectConfigFailure(run('subgraphs/ownership/src/main.ts', { TAKER_FEE_BPS: '5000' }), [/ownership failed to start/, /^ {2}- TAKER_FEE_BPS: /m]);
    expectConfigFailure(run('gateway/src/main.ts', { SUBGRAPH_URL_CATALOG: 'catalog host:4002', RATE_LIMIT_WINDOW_SECONDS: '0' }), [
      /gateway failed to start/,
      /^ {2}- SUBGRAPH_URL_CATALOG: /m,
      /^ {2}- RATE_LIMIT_WINDOW_SECONDS: must be 1 or more/m,
    ]);
  });
});
