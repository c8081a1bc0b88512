import { currentRequestId } from '../logger.ts';
import { newEnvelope, type EventContract, type EventEnvelope, type PayloadOf } from './contract.ts';

/**
 * The envelope of an event for the outbox, its payload checked against its contract and the
 * current request's id attached: for a use case that writes its outbox rows with its own SQL.
 */
export function outboxEnvelope<C extends EventContract>(source: string, contract: C, payload: PayloadOf<C>): EventEnvelope {
  const parsed = contract.payload.parse(payload) as Record<string, unknown>;
  return newEnvelope(source, contract.type, parsed, currentRequestId());
}
