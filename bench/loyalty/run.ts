/**
 * Loyalty benchmark (`npm run bench:loyalty`), in one run:
 *
 *  1. The door-side offline verifier alone (subgraphs/loyalty/src/door/verify.ts): verifications
 *     per second of valid codes with the event's public key, in this process, before any server.
 *  2. Check-in through the gateway under a burst at one event: identity, ownership and loyalty
 *     with our gateway in this process (startTestStack, events on Redis Streams). An artist's event
 *     gets T free tickets (bought through the API, 10 per purchase); each scan's QR code is signed
 *     here with the event's door key just before it (as a holder's phone shows `Ticket.qr`). Then C door clients, one
 *     request in flight each, scan every ticket once (the burst: each must be ADMITTED), then
 *     every ticket again (each must be ALREADY_ADMITTED). Printed: check-ins/s, p50/p99/max
 *     latency per pass. A wrong result fails the run (exit 1).
 *
 * Options (flag or environment variable):
 *   --tickets=N   BENCH_TICKETS   tickets scanned (2000)
 *   --clients=N   BENCH_CLIENTS   concurrent door clients (50)
 *   --verify=N    BENCH_VERIFY    offline verifications measured (20000)
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { graphqlClient, mintToken, startTestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { ownershipSubgraph } from '@vibestream/ownership';
import { loyaltySubgraph } from '@vibestream/loyalty';
import { doorPublicKey, verifyTicketQr } from '@vibestream/loyalty/door';
import { issueQr, newDoorKey } from '@vibestream/loyalty/domain/door-keys.ts';
import { BUY, CHECK_IN, artist, eventOnSale } from '@vibestream/loyalty/testing';
import { fmt, table } from '../lib/format.ts';
import { onCleanup, runBench } from '../lib/lifecycle.ts';
import { numberOption } from '../lib/options.ts';

const { values } = parseArgs({ options: { tickets: { type: 'string' }, clients: { type: 'string' }, verify: { type: 'string' } } });
const TICKETS = numberOption(values.tickets, 'tickets', 'BENCH_TICKETS', 2000, 10);
const CLIENTS = numberOption(values.clients, 'clients', 'BENCH_CLIENTS', 50, 1);
const VERIFY = numberOption(values.verify, 'verify', 'BENCH_VERIFY', 20_000, 100);

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function verifierBench(): { perSecond: number } {
  const key = newDoorKey();
  const eventId = randomUUID();
  const codes = Array.from(
    { length: 100 },
    () => issueQr(key.privateKey, { eventId, ticketId: randomUUID(), holderId: randomUUID(), generation: 1 }, Date.now()).qr,
  );
  const door = { publicKey: doorPublicKey(key.publicKey), eventId };
  for (let i = 0; i < 1000; i++) verifyTicketQr(codes[i % codes.length]!, { ...door, nowMs: Date.now() });
  const started = process.hrtime.bigint();
  let ok = 0;
  for (let i = 0; i < VERIFY; i++) if (verifyTicketQr(codes[i % codes.length]!, { ...door, nowMs: Date.now() }).ok) ok++;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (ok !== VERIFY) throw new Error(`only ${ok} of ${VERIFY} valid codes verified`);
  return { perSecond: VERIFY / seconds };
}

async function main(): Promise<number> {
  const verifier = verifierBench();
  console.log(`offline verifier: ${fmt(verifier.perSecond)} verifications/s (${VERIFY} valid codes, one core)\n`);

  const stack = await startTestStack('bench-loyalty', [identitySubgraph, ownershipSubgraph, loyaltySubgraph], { LOG_LEVEL: 'warn' });
  onCleanup(() => stack.stop());
  const band = await artist(stack);
  const event = await eventOnSale(stack, band.token, { capacity: TICKETS, priceCents: 0 });
  const typeId = event.ticketTypes[0]!.id;
  const gql = graphqlClient(stack.gatewayUrl);
  const buyers = Array.from({ length: Math.ceil(TICKETS / 10) }, () => randomUUID());
  for (let i = 0; i < buyers.length; i += 20) {
    await Promise.all(
      buyers.slice(i, i + 20).map(async (userId, j) => {
        const quantity = Math.min(10, TICKETS - (i + j) * 10);
        const res = await gql<{ buyTickets: { status: string } }>(
          BUY,
          { ticketTypeId: typeId, quantity, clientPurchaseId: randomUUID() },
          { token: await mintToken(stack.keys, { userId }) },
        );
        if (res.data?.buyTickets?.status !== 'CONFIRMED') throw new Error(`setup purchase failed: ${JSON.stringify(res.errors)}`);
      }),
    );
  }
  const key = (await stack.db.query<{ door_private_key: string }>('select door_private_key from loyalty.events where id = $1', [event.id])).rows[0]!
    .door_private_key;
  const tickets = (
    await stack.db.query<{ id: string; holder_id: string; generation: number }>('select id, holder_id, generation from loyalty.tickets where event_id = $1', [
      event.id,
    ])
  ).rows;
  if (tickets.length !== TICKETS) throw new Error(`expected ${TICKETS} tickets, found ${tickets.length}`);

  const pass = async (expected: string) => {
    // Each code as the holder's phone shows it at the moment of the scan (codes rotate every 30 s).
    const codeOf = (t: (typeof tickets)[number]) =>
      issueQr(key, { eventId: event.id, ticketId: t.id, holderId: t.holder_id, generation: t.generation }, Date.now()).qr;
    const latencies: number[] = [];
    const wrong: string[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (;;) {
          const i = next++;
          if (i >= tickets.length) return;
          const qr = codeOf(tickets[i]!);
          const t0 = performance.now();
          const res = await gql<{ checkIn: { result: string } }>(CHECK_IN, { eventId: event.id, qr, deviceId: `door-${c}` }, { token: band.token });
          latencies.push(performance.now() - t0);
          const result = res.data?.checkIn.result ?? JSON.stringify(res.errors);
          if (result !== expected) wrong.push(result);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { expected, perSecond: tickets.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1)!, wrong };
  };
  const first = await pass('ADMITTED');
  const second = await pass('ALREADY_ADMITTED');
  console.log(`check-in through the gateway: ${TICKETS} tickets at one event, ${CLIENTS} door clients`);
  console.log(
    table([
      ['pass', 'check-ins/s', 'p50 ms', 'p99 ms', 'max ms', 'wrong'],
      ...[first, second].map((p) => [p.expected, fmt(p.perSecond), fmt(p.p50, 1), fmt(p.p99, 1), fmt(p.max, 1), String(p.wrong.length)]),
    ]),
  );
  const admitted = Number(
    (await stack.db.query('select count(*) as n from loyalty.tickets where event_id = $1 and admitted_at is not null', [event.id])).rows[0].n,
  );
  if (first.wrong.length || second.wrong.length || admitted !== TICKETS) {
    console.error(`wrong results: ${[...first.wrong, ...second.wrong].slice(0, 5).join(', ')}; admitted ${admitted} of ${TICKETS}`);
    return 1;
  }
  return 0;
}

runBench(main);
