import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { closeGracefully, listen, sendJson } from './http.ts';

/** Who may read `/metrics` and where, from METRICS_PORT, METRICS_TOKEN and NODE_ENV. */
export interface MetricsAccess {
  /** The port of a listener of their own (0: any free one); null: none. */
  port: number | null;
  /** A bearer token every scrape must send; null: none asked. */
  token: string | null;
  /** Whether `/metrics` is answered on the process's main (public) port. */
  onMainPort: boolean;
}

/**
 * With METRICS_PORT, metrics are served there and never on the main port; otherwise on the
 * main port, behind METRICS_TOKEN when set. In production the main port never serves them
 * without a token.
 */
export function metricsAccess(config: { NODE_ENV: string; METRICS_PORT?: number | undefined; METRICS_TOKEN?: string | undefined }): MetricsAccess {
  const port = config.METRICS_PORT ?? null;
  const token = config.METRICS_TOKEN ?? null;
  return { port, token, onMainPort: port === null && (token !== null || config.NODE_ENV !== 'production') };
}

/** What a process without a configuration (a test's own subgraph) gets: open on its main port. */
export const openMetrics: MetricsAccess = { port: null, token: null, onMainPort: true };

/** Answers `GET /metrics` on the main port as `access` allows: 404 where it is not served there, 401 without the token. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, registries: readonly Registry[], access: MetricsAccess): Promise<void> {
  if (!access.onMainPort) return sendJson(res, 404, { error: 'not found' });
  return answer(req, res, registries, access.token);
}

async function answer(req: IncomingMessage, res: ServerResponse, registries: readonly Registry[], token: string | null): Promise<void> {
  if (token !== null && !bearerMatches(req.headers.authorization, token)) {
    return sendJson(res, 401, { error: 'A metrics token is required (Authorization: Bearer <METRICS_TOKEN>)' }, { 'www-authenticate': 'Bearer' });
  }
  const text = await metricsText(registries);
  res.writeHead(200, { 'content-type': registries[0]!.contentType });
  res.end(text);
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
  // Compared as digests, so neither the length nor the bytes leak through timing.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

/** Several registries as one exposition; a metric two of them define (Node's defaults) appears once. */
async function metricsText(registries: readonly Registry[]): Promise<string> {
  if (registries.length === 1) return registries[0]!.metrics();
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray()) {
      if (seen.has(metric.name)) continue;
      seen.add(metric.name);
      parts.push(await registry.getSingleMetricAsString(metric.name));
    }
  }
  return `${parts.join('\n')}\n`;
}

export interface MetricsListener {
  port: number;
  stop(): Promise<void>;
}

interface SharedListener {
  server: Server;
  port: number;
  registries: Registry[];
}

/** Listeners by configured port: under `npm start` the gateway and every subgraph share one process and one METRICS_PORT. */
const listeners = new Map<number, Promise<SharedListener>>();

/**
 * Serves `registry` on `/metrics` of a listener of its own (`access.port`, on `host`), shared
 * with any other registry this process serves on the same port; nothing else is answered there.
 */
export async function startMetricsListener(access: MetricsAccess & { port: number }, host: string, registry: Registry): Promise<MetricsListener> {
  let shared = access.port === 0 ? undefined : listeners.get(access.port);
  if (!shared) {
    shared = openListener(access.port, host, access.token);
    if (access.port !== 0) listeners.set(access.port, shared);
    shared.catch(() => listeners.delete(access.port));
  }
  const listener = await shared;
  if (!listener.registries.includes(registry)) listener.registries.push(registry);
  let stopped = false;
  return {
    port: listener.port,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      listener.registries.splice(listener.registries.indexOf(registry), 1);
      if (listener.registries.length > 0) return;
      if (listeners.get(access.port) === shared) listeners.delete(access.port);
      await closeGracefully(listener.server, 1_000);
    },
  };
}

async function openListener(port: number, host: string, token: string | null): Promise<SharedListener> {
  const registries: Registry[] = [];
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics' || registries.length === 0) return sendJson(res, 404, { error: 'not found' });
    answer(req, res, registries, token).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'metrics unavailable' });
      else res.destroy();
    });
  });
  return { server, registries, port: await listen(server, port, host) };
}
