import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, type RunningSubgraph } from '@vibestream/platform';
import { freePort, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { startGateway, type RunningGateway } from '../src/index.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

let stack: TestStack;
let supergraph: string;
const running: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  stack = await startTestStack('metricsaccess', [identitySubgraph], { INTERNAL_API_TOKEN: 'internal-token-for-metrics-0123456789abcdef' });
  supergraph = composeSupergraph([identitySubgraph], (m) => stack.subgraphs.get(m.name)!.url).supergraph;
}, 120_000);

afterAll(async () => {
  for (const process of running.reverse()) await process.stop();
  await stack?.stop();
});

async function gateway(env: NodeJS.ProcessEnv): Promise<RunningGateway> {
  const started = await startGateway({
    env: { ...stack.env, HOST: '127.0.0.1', ...env },
    supergraphSdl: supergraph,
    port: 0,
    log: stack.log,
    live: stack.infra.live,
  });
  running.push(started);
  return started;
}

async function identity(env: NodeJS.ProcessEnv): Promise<RunningSubgraph> {
  // MAIL_ENABLED=false: production identity otherwise needs an SMTP server, which this test is not about.
  const started = await identitySubgraph.start({
    env: { ...stack.env, HOST: '127.0.0.1', MAIL_ENABLED: 'false', ...env },
    port: 0,
    infra: stack.infra,
    log: stack.log,
  });
  running.push(started);
  return started;
}

async function scrape(port: number | undefined, token?: string, path = '/metrics') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text() };
}

describe('/metrics on the gateway', () => {
  it('is open on the main port in development', async () => {
    const res = await scrape(Number(new URL(stack.publicUrl).port));
    expect(res.status).toBe(200);
    expect(res.text).toContain('vibestream_gateway_http_request_duration_seconds');
  });

  it('is not served on the main port in production without a token or a port of its own', async () => {
    const production = await gateway({ NODE_ENV: 'production' });
    const res = await scrape(production.port);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('vibestream_');
    expect(production.metricsPort).toBeUndefined();
  });

  it('asks for METRICS_TOKEN on the main port when it is set', async () => {
    const production = await gateway({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN });
    expect((await scrape(production.port)).status).toBe(401);
    expect((await scrape(production.port, 'not-the-metrics-token-at-all')).status).toBe(401);
    const res = await scrape(production.port, TOKEN);
    expect(res.status).toBe(200);
    expect(res.text).toContain('vibestream_gateway_');
  });

  it('serves them only on METRICS_PORT when it is set, behind the token when there is one', async () => {
    const own = await gateway({ METRICS_PORT: '0' });
    expect((await scrape(own.port)).status).toBe(404);
    expect((await scrape(own.metricsPort)).text).toContain('vibestream_gateway_');
    // Nothing but /metrics there.
    expect((await scrape(own.metricsPort, undefined, '/graphql')).status).toBe(404);

    const guarded = await gateway({ NODE_ENV: 'production', METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
    expect((await scrape(guarded.port, TOKEN)).status).toBe(404);
    expect((await scrape(guarded.metricsPort)).status).toBe(401);
    expect((await scrape(guarded.metricsPort, TOKEN)).status).toBe(200);
  });
});

describe("a subgraph's /metrics", () => {
  it('follows the same rules', async () => {
    const production = await identity({ NODE_ENV: 'production' });
    expect((await scrape(production.port)).status).toBe(404);

    const guarded = await identity({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN });
    expect((await scrape(guarded.port)).status).toBe(401);
    expect((await scrape(guarded.port, TOKEN)).text).toContain('vibestream_subgraph_http_request_duration_seconds');

    const own = await identity({ NODE_ENV: 'production', METRICS_PORT: '0' });
    expect((await scrape(own.port)).status).toBe(404);
    expect((await scrape(own.metricsPort)).text).toContain('vibestream_subgraph_http_request_duration_seconds');
  });

  it('shares one METRICS_PORT with the gateway in one process (npm start), each metric once', async () => {
    const port = await freePort();
    const subgraph = await identity({ METRICS_PORT: String(port) });
    const withGateway = await gateway({ METRICS_PORT: String(port) });
    expect(subgraph.metricsPort).toBe(port);
    expect(withGateway.metricsPort).toBe(port);
    const { text } = await scrape(port);
    expect(text).toContain('vibestream_gateway_http_request_duration_seconds');
    expect(text).toContain('vibestream_subgraph_http_request_duration_seconds');
    expect(text.match(/^# HELP process_cpu_user_seconds_total /gm)).toHaveLength(1);

    // The listener stays while one of them still serves on it.
    await withGateway.stop();
    running.splice(running.indexOf(withGateway), 1);
    const after = await scrape(port);
    expect(after.text).toContain('vibestream_subgraph_http_request_duration_seconds');
    expect(after.text).not.toContain('vibestream_gateway_');
  });
});
