import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createInfra,
  createLogger,
  defineEvent,
  defineSubgraph,
  generateSigningKeys,
  loadConfig,
  on,
  sendJson,
  sqlMigration,
  subgraphConfigShape,
  type BaseRequestContext,
  type RunningSubgraph,
  type SubgraphRuntime,
} from '@vibestream/platform';
import { createTestDatabase, eventually, graphqlClient, mintToken, type TestDatabase } from '@vibestream/testkit';

const log = createLogger('runtime-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Pinged = defineEvent('test.ping.sent.v1', z.object({ n: z.number().int() }));
const keys = generateSigningKeys();

let dir: string;
let db: TestDatabase;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vs-runtime-'));
  await writeFile(join(dir, 'schema.graphql'), 'type Query { answer: Int! pings: Int! caller: String }\n');
  db = await createTestDatabase('runtime');
});

afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Ctx = BaseRequestContext & { em: { execute(sql: string): Promise<unknown> }; answer: number };

/** A minimal subgraph: one event handler, one route, background work, and a journal of what ran when. */
function testSubgraph(name: string, outbox: boolean) {
  const journal: string[] = [];
  let runtime: SubgraphRuntime<ReturnType<typeof load>> | null = null;
  const load = (env: NodeJS.ProcessEnv) => loadConfig(subgraphConfigShape(0), env);
  const module = defineSubgraph({
    name,
    defaultPort: 0,
    schema: pathToFileURL(join(dir, 'schema.graphql')),
    resolvers: {
      Query: {
        answer: (_: unknown, __: unknown, ctx: Ctx) => ctx.answer,
        pings: async (_: unknown, __: unknown, ctx: Ctx) => ((await ctx.em.execute('select count(*)::int as n from pings')) as { n: number }[])[0]!.n,
        caller: (_: unknown, __: unknown, ctx: Ctx) => ctx.principal?.userId ?? null,
      },
    },
    loadConfig: load,
    database: { migrations: [sqlMigration('0001_pings', 'create table pings (n int primary key);')] },
    outbox,
    setup: (given) => {
      runtime = given;
      journal.push('setup');
      return {
        handlers: [on(Pinged, async (em, payload) => void (await em.execute('insert into pings (n) values (?)', [payload.n])))],
        afterCommit: (envelope) => journal.push(`handled ${envelope.type}`),
        context: (base): Ctx => ({ ...base, answer: 42 }),
        routes: [{ method: 'GET', path: '/hello', handle: (_req, res) => sendJson(res, 200, { hello: name }) }],
        background: () => {
          journal.push('background');
          return { stop: async () => void journal.push('background stopped') };
        },
        stop: async () => void journal.push('stopped'),
      };
    },
  });
  return { module, journal, runtime: () => runtime! };
}

async function start(subgraph: ReturnType<typeof testSubgraph>, statements: string[] = []) {
  const infra = createInfra({ prefix: 'runtime:', log });
  const env = { NODE_ENV: 'test', DATABASE_URL: db.url, JWT_PUBLIC_KEY: keys.publicKeyPem, OUTBOX_RELAY_INTERVAL_MS: '20' };
  const running = await subgraph.module.start({ env, port: 0, infra, log, onQuery: (sql) => void statements.push(sql) });
  return { running, infra };
}

async function stop(running: RunningSubgraph, infra: { close(): Promise<void> }) {
  await running.stop();
  await infra.close();
}

describe('defineSubgraph', () => {
  it('serves GraphQL with the subgraph context, its routes and readiness; consumes events; records and relays its own', async () => {
    const subgraph = testSubgraph('runtimeone', true);
    const { running, infra } = await start(subgraph);
    try {
      const base = running.url.replace(/\/graphql$/, '');
      const gql = graphqlClient(running.url);
      const token = await mintToken(keys, { userId: '00000000-0000-4000-8000-000000000001' });
      expect((await gql<{ answer: number; caller: string | null }>('{ answer caller }', {}, { token })).data).toEqual({
        answer: 42,
        caller: '00000000-0000-4000-8000-000000000001',
      });
      expect(await (await fetch(`${base}/hello`)).json()).toEqual({ hello: 'runtimeone' });
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      // An event another context published is handled by the consumer group named after the subgraph.
      await infra.transport.append({
        id: crypto.randomUUID(),
        type: Pinged.type,
        source: 'test',
        occurredAt: new Date().toISOString(),
        requestId: null,
        payload: { n: 1 },
      });
      await eventually(
        async () => (await gql<{ pings: number }>('{ pings }')).data?.pings,
        (n) => n === 1,
      );

      // An event the subgraph records goes out through its relay once onEventsCommitted kicks it.
      await subgraph.runtime().persistence.useCase(async (tx) => {
        tx.outbox.record(Pinged, { n: 2 });
      });
      await eventually(
        async () => (await gql<{ pings: number }>('{ pings }')).data?.pings,
        (n) => n === 2,
      );
      expect(subgraph.journal).toEqual(['setup', 'background', `handled ${Pinged.type}`, `handled ${Pinged.type}`]);
    } finally {
      await stop(running, infra);
    }
    expect(subgraph.journal.slice(-2)).toEqual(['background stopped', 'stopped']);
    await expect(subgraph.runtime().orm.isConnected()).resolves.toBe(false);
  });

  it('runs no outbox relay for a subgraph without an outbox', async () => {
    const statements: string[] = [];
    const subgraph = testSubgraph('runtimetwo', false);
    const { running, infra } = await start(subgraph, statements);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(statements.some((sql) => sql.includes('outbox_events') && !/create|alter|index/i.test(sql))).toBe(false);
    } finally {
      await stop(running, infra);
    }
    const withOutbox: string[] = [];
    const other = await start(testSubgraph('runtimethree', true), withOutbox);
    await new Promise((r) => setTimeout(r, 200));
    await stop(other.running, other.infra);
    expect(withOutbox.some((sql) => sql.includes('update outbox_events'))).toBe(true);
  });
});
