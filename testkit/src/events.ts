import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { newEnvelope, type EventContract, type EventEnvelope, type Infra, type PayloadOf } from '@vibestream/platform';

/**
 * Appends an event onto the stack's bus the way its producer's relay would, checked against its
 * contract, `times` times: the first under its own id, then once more under that same id (a plain
 * redelivery), then under fresh ids (the same business event recorded again). Answers every
 * envelope appended. The envelope's source is the type's first segment (consumers do not read it).
 */
export async function publishEvent<C extends EventContract>(
  stack: { infra: Infra },
  contract: C,
  payload: PayloadOf<C>,
  options: { times?: number; occurredAt?: string } = {},
): Promise<EventEnvelope[]> {
  const base = newEnvelope(contract.type.split('.')[0]!, contract.type, contract.payload.parse(payload) as Record<string, unknown>);
  const first = options.occurredAt ? { ...base, occurredAt: options.occurredAt } : base;
  const envelopes = Array.from({ length: options.times ?? 1 }, (_, i) => (i < 2 ? first : { ...first, id: randomUUID() }));
  for (const envelope of envelopes) await stack.infra.transport.append(envelope);
  return envelopes;
}

/**
 * Records an event, checked against its contract, in the outbox of the running subgraph `producer`
 * (its Postgres schema), as one of its use cases would: that subgraph's relay publishes it from its
 * own context, so consumers receive it exactly as they receive the real producer's events.
 */
export async function publishThroughOutbox<C extends EventContract>(
  stack: { db: pg.Client },
  producer: string,
  contract: C,
  payload: PayloadOf<C>,
): Promise<EventEnvelope> {
  if (!/^[a-z_]+$/.test(producer)) throw new Error(`not a subgraph name: ${producer}`);
  const envelope = newEnvelope(producer, contract.type, contract.payload.parse(payload) as Record<string, unknown>);
  await stack.db.query(`insert into "${producer}".outbox_events (id, type, source, payload, occurred_at) values ($1, $2, $3, $4, $5)`, [
    envelope.id,
    envelope.type,
    envelope.source,
    envelope.payload,
    envelope.occurredAt,
  ]);
  return envelope;
}
