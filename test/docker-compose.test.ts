// docker-compose.yml and the Dockerfile cannot be run here (no Docker engine), so this checks
// them by construction: every service is health-checked, every subgraph in subgraphs/ has its
// container, the gateway waits for each and knows its address, and the Dockerfile has the
// stages compose and its own COPY --from lines name.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseTrustedProxies } from '@vibestream/platform';
import { subgraphUrlVariable as envName } from '@vibestream/gateway/config';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: (string | number | { target?: number | string; published?: number | string })[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

// Merge keys (<<: *anchor) are not part of YAML 1.2's core schema; compose supports them.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } } | null>;
};
const services = compose.services;

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value == null ? '' : String(value)]));
}

function dependsOnOf(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep?.condition ?? 'service_started']));
}

/** Every subgraph that exists: a folder in subgraphs/ with a schema.graphql (as codegen.ts counts them). */
const subgraphNames = readdirSync(new URL('subgraphs/', root), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(new URL(`subgraphs/${d.name}/schema.graphql`, root)))
  .map((d) => d.name)
  .sort();

/** The subgraphs the committed supergraph names, with the (development) URL it gives each. */
const supergraphGraphs = [...read('schema/supergraph.graphql').matchAll(/@join__graph\(name: "([^"]+)", url: "([^"]+)"\)/g)].map((m) => ({
  name: m[1]!,
  url: new URL(m[2]!),
}));

/** The Dockerfile's stages, in order, and the stages its COPY --from lines name. */
const dockerfile = existsSync(new URL('Dockerfile', root)) ? read('Dockerfile') : '';
const dockerLines = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim());
const stages = dockerLines
  .map((line) => /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ image: m[1]!, name: m[2]?.toLowerCase() }));
const stageNames = stages.map((s) => s.name).filter((n): n is string => !!n);
/** The instructions of one stage, by name. */
function stageLines(name: string): string[] {
  const start = dockerLines.findIndex((line) => new RegExp(`^FROM\\s.*\\sAS\\s+${name}\\s*$`, 'i').test(line));
  if (start < 0) return [];
  const end = dockerLines.findIndex((line, i) => i > start && /^FROM\s/i.test(line));
  return dockerLines.slice(start, end < 0 ? undefined : end);
}

const nodeServices = Object.entries(services).filter(([, service]) => service.build !== undefined);

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Redis, the gateway and the Node services', () => {
    expect(services.postgres?.image).toMatch(/^postgres:/);
    expect(services.redis?.image).toMatch(/^redis:/);
    expect(services.gateway?.build).toBeDefined();
    expect(nodeServices.length).toBeGreaterThanOrEqual(2);
  });

  it('gives every service a healthcheck', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.healthcheck, `${name} has no healthcheck`).toBeDefined();
      expect(service.healthcheck?.disable, `${name} disables its healthcheck`).not.toBe(true);
      const test = service.healthcheck?.test;
      expect(Array.isArray(test) ? test.length : (test ?? '').length, `${name}'s healthcheck has no test`).toBeGreaterThan(0);
    }
  });

  it('waits only for services that exist and are health-checked', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, condition] of Object.entries(dependsOnOf(service))) {
        expect(services[dependency], `${name} depends on a missing service ${dependency}`).toBeDefined();
        expect(condition, `${name} should wait for ${dependency} to be healthy`).toBe('service_healthy');
      }
    }
  });

  it('builds each Node service from the Dockerfile and starts its own workspace in production mode', () => {
    for (const [name, service] of nodeServices) {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
      expect(build.context ?? '.', name).toBe('.');
      expect(existsSync(new URL(build.dockerfile ?? 'Dockerfile', root)), `${name}: Dockerfile`).toBe(true);
      if (build.target) expect(stageNames, `${name}: build target`).toContain(build.target.toLowerCase());
      const env = environmentOf(service);
      expect(env.SERVICE, `${name}: SERVICE`).toBeTruthy();
      expect(existsSync(new URL(`${env.SERVICE}/src/main.ts`, root)), `${name}: ${env.SERVICE}/src/main.ts exists`).toBe(true);
      expect(env.PORT, `${name}: PORT`).toMatch(/^\d+$/);
      expect(env.NODE_ENV, `${name}: NODE_ENV`).toBe('production');
      // The healthcheck probes this service's own port.
      const test = [service.healthcheck?.test ?? []].flat().join(' ');
      expect(test.includes('process.env.PORT') || test.includes(`:${env.PORT}/`), `${name}: healthcheck port`).toBe(true);
    }
  });

  it('has a service for every subgraph in subgraphs/, on real PostgreSQL and Redis', () => {
    expect(subgraphNames.length).toBeGreaterThan(0);
    for (const name of subgraphNames) {
      const service = services[name];
      expect(service, `subgraphs/${name} has no service in docker-compose.yml`).toBeDefined();
      const env = environmentOf(service!);
      expect(env.SERVICE).toBe(`subgraphs/${name}`);
      expect(env.DATABASE_URL, `${name}: DATABASE_URL`).toMatch(/^postgres(ql)?:\/\/.+@postgres:5432\//);
      expect(env.REDIS_URL, `${name}: REDIS_URL`).toMatch(/^redis:\/\/redis:6379/);
      // identity signs with its private key; every other process verifies with identity's keys.
      expect(env.JWT_PRIVATE_KEY || env.JWKS_URL || env.JWT_PUBLIC_KEY, `${name}: JWT key`).toBeTruthy();
      expect(dependsOnOf(service!)).toMatchObject({ postgres: 'service_healthy', redis: 'service_healthy' });
    }
    expect(environmentOf(services.identity!).JWT_PRIVATE_KEY).toMatch(/^\$\{JWT_PRIVATE_KEY:\?/);
  });

  it('starts the gateway on 4000 after every subgraph, with each subgraph at its container address', () => {
    const gateway = services.gateway!;
    const env = environmentOf(gateway);
    const dependsOn = dependsOnOf(gateway);
    for (const name of subgraphNames) {
      expect(dependsOn[name], `gateway must wait for ${name} to be healthy`).toBe('service_healthy');
      const port = environmentOf(services[name]!).PORT;
      expect(env[envName(name)], `gateway: ${envName(name)}`).toBe(`http://${name}:${port}/graphql`);
    }
    // Every subgraph the supergraph routes to is overridden, and each container listens on the
    // port the supergraph (and `npm start`) uses for it.
    for (const graph of supergraphGraphs) {
      expect(env[envName(graph.name)], `gateway: ${envName(graph.name)}`).toBeTruthy();
      expect(environmentOf(services[graph.name] ?? {}).PORT, `${graph.name}: PORT`).toBe(graph.url.port);
    }
    expect(env.JWKS_URL).toBe(`http://identity:${environmentOf(services.identity!).PORT}/.well-known/jwks.json`);
    expect(env.APOLLO_TELEMETRY_DISABLED ?? (/APOLLO_TELEMETRY_DISABLED=true/.test(dockerfile) ? 'true' : '')).toBe('true');
    expect(env.PORT).toBe('4000');
    const ports = (gateway.ports ?? []).map((p) => (typeof p === 'object' ? String(p.target) : String(p).split(':').pop()));
    expect(ports).toContain('4000');
  });

  it('has every subgraph believe X-Forwarded-For from the gateway only, at its fixed address on the compose network', () => {
    const networks = services.gateway!.networks;
    const address = Array.isArray(networks) ? undefined : networks?.default?.ipv4_address;
    expect(address, 'gateway: networks.default.ipv4_address').toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const subnet = compose.networks?.default?.ipam?.config?.[0]?.subnet ?? '';
    expect(parseTrustedProxies([subnet]).has(address!), `${address} inside the default network's subnet ${subnet}`).toBe(true);
    for (const name of subgraphNames) expect(environmentOf(services[name]!).TRUSTED_PROXIES, `${name}: TRUSTED_PROXIES`).toBe(address);
  });

  // Needs the docker CLI with the compose plugin; `config` does not need a running engine.
  const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!composeCli)('passes `docker compose config -q`', () => {
    // Placeholders for the variables compose requires (${NAME:?message}).
    const required = [...read('docker-compose.yml').matchAll(/\$\{([A-Za-z0-9_]+):\?/g)].map((m) => m[1]!);
    const placeholders = Object.fromEntries(required.map((name) => [name, process.env[name] || `placeholder-${name}-${'x'.repeat(32)}`]));
    const result = spawnSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ...placeholders },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('Dockerfile', () => {
  it('builds on Node 22 with deps and runtime stages', () => {
    expect(dockerfile, 'Dockerfile exists').not.toBe('');
    expect(stageNames).toEqual(expect.arrayContaining(['deps', 'runtime']));
    const baseImage = /^ARG\s+NODE_IMAGE=(\S+)/m.exec(dockerfile)?.[1] ?? stages[0]?.image;
    expect(baseImage).toMatch(/^node:22[.-]/);
  });

  it('names only stages defined before it (COPY --from, FROM <stage>)', () => {
    dockerLines.forEach((line, index) => {
      const earlier = dockerLines
        .slice(0, index)
        .map((l) => /^FROM\s.*\sAS\s+(\S+)\s*$/i.exec(l)?.[1]?.toLowerCase())
        .filter(Boolean);
      const from = /--from=(\S+)/i.exec(line)?.[1];
      if (from && /^COPY\s/i.test(line)) expect(earlier, `line ${index + 1}: ${line}`).toContain(from.toLowerCase());
    });
    for (const stage of stages) {
      // A stage built FROM another stage must name one defined earlier (images contain ':' or '/' or '$').
      if (!/[:/$]/.test(stage.image)) expect(stageNames.slice(0, stageNames.indexOf(stage.name ?? ''))).toContain(stage.image.toLowerCase());
    }
  });

  it('builds the web client in its own stage and ships only its bundle', () => {
    expect(stageLines('web').join('\n')).toMatch(/buildWebApp/);
    expect(stageLines('runtime').join('\n')).toMatch(/COPY --from=web \S*clients\/web\/dist/);
  });

  it('installs production dependencies from the lockfile only', () => {
    const deps = stageLines('deps').join('\n');
    expect(deps).toMatch(/npm ci\b/);
    expect(deps).toMatch(/--omit=dev/);
    expect(deps).not.toMatch(/npm install\b/);
  });

  it('runs as the unprivileged node user and starts $SERVICE', () => {
    const runtime = stageLines('runtime');
    expect(runtime.filter((l) => /^USER\s/i.test(l)).pop()).toMatch(/^USER\s+node\s*$/i);
    expect(runtime.join('\n')).toMatch(/ARG\s+SERVICE\b/);
    expect(runtime.find((l) => /^CMD\s/i.test(l))).toMatch(/\$\{?SERVICE\}?\/src\/main\.ts/);
    // The runtime is the last stage, so a plain `docker build` produces it.
    expect(stageNames.at(-1)).toBe('runtime');
  });

  it('keeps node_modules, .data and .git out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', '.data', '.git']) {
      expect(
        ignored.some((l) => l === entry || l === `**/${entry}`),
        `.dockerignore: ${entry}`,
      ).toBe(true);
    }
  });
});
