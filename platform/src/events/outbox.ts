import type { EntityManager } from '@mikro-orm/postgresql';
import { currentRequestId } from '../logger.ts';
import { newEnvelope, type EventContract, type PayloadOf } from './contract.ts';
import { OutboxEventEntity } from './tables.ts';

/**
 * Records an event in the outbox of the transaction `em` belongs to: it is published
 * if and only if that transaction commits.
 */
export function recordEvent<C extends EventContract>(em: EntityManager, source: string, contract: C, payload: PayloadOf<C>): string {
  const parsed = contract.payload.parse(payload) as Record<string, unknown>;
  const envelope = newEnvelope(source, contract.type, parsed, currentRequestId());
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
