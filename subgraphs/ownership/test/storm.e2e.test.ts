import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, createInfra, listen, type Infra, type RunningSubgraph } from '@vibestream/platform';
import { graphqlClient, startTestStack, type GraphQLRequest, type TestStack } from '@vibestream/testkit';
import { startGateway, type RunningGateway } from '@vibestream/gateway';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { ownershipSubgraph } from '../src/index.ts';
import { BOOK, BUY_OFFERING, CANCEL, OFFER, PLACE, checkInvariants, deposit, signUp, songOnMarket, type Placed } from './helpers.ts';

const CLIENTS = 20;
const OPERATIONS = 200;
const SONGS = 3;

let stack: TestStack;
let db: pg.Client;
let mediaDir: string;
let replica: RunningSubgraph;
let replicaInfra: Infra;
let balancer: Server;
let gateway: RunningGateway;
let gql: GraphQLRequest;
const served = [0, 0];

/** Round-robin HTTP balancer in front of the two ownership replicas. */
async function startBalancer(targets: string[]): Promise<string> {
  let next = 0;
  balancer = createServer((req, res) => {
    const index = next++ % targets.length;
    served[index]!++;
    const target = new URL(targets[index]!);
    const upstream = request({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  const port = await listen(balancer, 0, '127.0.0.1');
  return `http://127.0.0.1:${port}/graphql`;
}

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-storm-'));
  stack = await startTestStack('ownershipstorm', [identitySubgraph, catalogSubgraph, ownershipSubgraph], { MEDIA_DIR: mediaDir });
  db = stack.db;
  // A second replica, with its own connections, as a separate process would have.
  replicaInfra = createInfra({ redisUrl: stack.env.REDIS_URL, prefix: stack.env.REDIS_PREFIX!, log: stack.log });
  replica = await ownershipSubgraph.start({ env: stack.env, port: 0, infra: replicaInfra, log: stack.log });
  const balancerUrl = await startBalancer([stack.subgraphs.get('ownership')!.url, replica.url]);
  const modules = [identitySubgraph, catalogSubgraph, ownershipSubgraph];
  const { supergraph } = composeSupergraph(modules, (m) => (m.name === 'ownership' ? balancerUrl : stack.subgraphs.get(m.name)!.url));
  gateway = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: supergraph, port: 0, log: stack.log });
  gql = graphqlClient(`http://127.0.0.1:${gateway.port}/graphql`);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await new Promise<void>((resolve) => (balancer ? balancer.close(() => resolve()) : resolve()));
  await replica?.stop();
  await replicaInfra?.close();
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

describe('storm: two replicas, 20 clients, 200 random orders each on 3 songs', () => {
  it('keeps every invariant exactly, and the API book equals the resting orders', async () => {
    const songs: string[] = [];
    const offerings: string[] = [];
    for (let i = 0; i < SONGS; i++) {
      const { artist, songId } = await songOnMarket(stack, db, `Storm ${i}`);
      const offering = await gql<{ createShareOffering: { id: string } }>(
        OFFER,
        { input: { songId, totalShares: 100_000, pricePerShareCents: 100, revenueShareBps: 1000 } },
        { token: artist.token },
      );
      songs.push(songId);
      offerings.push(offering.data!.createShareOffering.id);
    }
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => signUp(stack, 'FAN')));
    for (const client of clients) {
      await deposit(stack, db, client.userId, 500_000);
      for (const offeringId of offerings) await gql(BUY_OFFERING, { offeringId, quantity: 200 }, { token: client.token });
    }

    const codes = new Map<string, number>();
    let trades = 0;
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    await Promise.all(
      clients.map(async (client) => {
        const open: string[] = [];
        for (let op = 0; op < OPERATIONS; op++) {
          if (open.length > 0 && random() < 0.2) {
            const orderId = open.splice(Math.floor(random() * open.length), 1)[0]!;
            const res = await gql(CANCEL, { orderId }, { token: client.token });
            const code = res.errors?.[0]?.extensions?.code ?? 'OK';
            codes.set(`cancel:${code}`, (codes.get(`cancel:${code}`) ?? 0) + 1);
            continue;
          }
          const market = random() < 0.15;
          const input = {
            songId: songs[Math.floor(random() * SONGS)]!,
            side: random() < 0.5 ? 'BUY' : 'SELL',
            type: market ? 'MARKET' : 'LIMIT',
            quantity: 1 + Math.floor(random() * 20),
            ...(market ? {} : { limitPriceCents: 80 + Math.floor(random() * 41) }),
            ...(random() < 0.1 ? { clientOrderId: `c-${Math.floor(random() * 50)}` } : {}),
          };
          const res = await gql<Placed>(PLACE, { input }, { token: client.token });
          const code = res.errors?.[0]?.extensions?.code ?? 'OK';
          codes.set(`place:${code}`, (codes.get(`place:${code}`) ?? 0) + 1);
          if (res.data) {
            trades += res.data.placeOrder.trades.length;
            if (res.data.placeOrder.order.status === 'OPEN') open.push(res.data.placeOrder.order.id);
          }
        }
      }),
    );

    expect([...codes.keys()].filter((k) => !/:(OK|INSUFFICIENT_FUNDS|CONFLICT)$/.test(k))).toEqual([]);
    expect(codes.get('place:OK')).toBeGreaterThan(2000);
    expect(trades).toBeGreaterThan(200);
    expect(Math.min(...served)).toBeGreaterThan(1000);

    const invariants = await checkInvariants(db);
    expect(invariants.sharesOk).toBe(true);
    expect(invariants.cash.conserved).toBe(true);
    expect(Number(invariants.cash.unbalanced)).toBe(0);
    expect(Number(invariants.cash.fees)).toBe(Number(invariants.cash.fees_journal));
    expect(invariants.negatives).toBe(0);
    expect(invariants.reservations).toEqual({ cash_mismatch: '0', share_mismatch: '0' });

    for (const songId of songs) {
      const book = await gql<{
        orderBook: { bids: { priceCents: number; quantity: number; orders: number }[]; asks: { priceCents: number; quantity: number; orders: number }[] };
      }>(BOOK, { songId, depth: 100 });
      const rows = await db.query(
        `select side, limit_price_cents as "priceCents", sum(quantity - filled_quantity)::int as quantity, count(*)::int as orders
         from ownership.orders where song_id = $1 and status = 'OPEN' group by side, limit_price_cents`,
        [songId],
      );
      const fromDb = (side: string, direction: number) =>
        rows.rows
          .filter((r) => r.side === side)
          .map(({ priceCents, quantity, orders }) => ({ priceCents, quantity, orders }))
          .sort((x, y) => direction * (x.priceCents - y.priceCents));
      expect(book.data!.orderBook.bids).toEqual(fromDb('BUY', -1));
      expect(book.data!.orderBook.asks).toEqual(fromDb('SELL', 1));
      const bestBid = book.data!.orderBook.bids[0]?.priceCents ?? 0;
      const bestAsk = book.data!.orderBook.asks[0]?.priceCents ?? Infinity;
      expect(bestBid).toBeLessThan(bestAsk);
    }
  }, 240_000);
});
