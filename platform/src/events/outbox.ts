import type { EntityManager } from '@mikro-orm/postgresql';
import { currentRequestId } from '../logger.ts';
import { newEnvelope, type EventContract, type EventEnvelope, type PayloadOf } from './contract.ts';
import { OutboxEventEntity } from './tables.ts';

/**
 * Records an event in the outbox of the transaction `em` belongs to: it is published
 * if and only if that transaction commits.
 * @deprecated For contexts not yet on the persistence kernel: an EntityManager outside a
 * transaction silently drops the event. Use `tx.outbox.record` inside `useCase` (docs/adr/0001-persistence.md).
 */
export function recordEvent<C extends EventContract>(em: EntityManager, source: string, contract: C, payload: PayloadOf<C>): string {
  const envelope = outboxEnvelope(source, contract, payload);
  em.create(OutboxEventEntity, {
    id: envelope.id,
    type: envelope.type,
    source: envelope.source,
    payload: envelope.payload,
    requestId: envelope.requestId ?? null,
    occurredAt: new Date(envelope.occurredAt),
    publishedAt: null,
  });
  return envelope.id;
}

/**
 * The envelope of an event for the outbox, its payload checked against its contract and the
 * current request's id attached: for a use case that writes its outbox rows with its own SQL.
 */
export function outboxEnvelope<C extends EventContract>(source: string, contract: C, payload: PayloadOf<C>): EventEnvelope {
  const parsed = contract.payload.parse(payload) as Record<string, unknown>;
  return newEnvelope(source, contract.type, parsed, currentRequestId());
}
