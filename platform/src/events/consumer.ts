import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.ts';
import { withRequestId } from '../logger.ts';
import { processMetrics } from '../telemetry.ts';
import { PoisonEventError, type EventContract, type EventEnvelope, type PayloadOf } from './contract.ts';
import type { EventTransport, RetryPolicy, RunningConsumer } from './transport.ts';

export interface EventHandler<C extends EventContract = EventContract> {
  contract: C;
  /** Runs inside the transaction that records the event as handled. */
  handle: (em: EntityManager, payload: PayloadOf<C>, envelope: EventEnvelope) => Promise<void>;
}

export function on<C extends EventContract>(contract: C, handle: EventHandler<C>['handle']): EventHandler<C> {
  return { contract, handle };
}

/**
 * Subscribes a context's handlers. Each event's effect and its handled-events row commit
 * in one transaction, so a redelivered event is skipped and a failed one leaves no trace.
 */
export function startConsumer(options: {
  orm: MikroORM;
  transport: EventTransport;
  group: string;
  handlers: EventHandler[];
  log: Logger;
  retry?: Partial<RetryPolicy>;
  /** Called after an event's transaction committed. */
  afterCommit?: (envelope: EventEnvelope) => void;
}): RunningConsumer {
  const byType = new Map(options.handlers.map((h) => [h.contract.type, h]));
  const log = options.log.child({ consumer: options.group });
  const lag = processMetrics().eventDeliveryLag;
  return options.transport.consume({
    group: options.group,
    types: [...byType.keys()],
    ...(options.retry ? { retry: options.retry } : {}),
    handle: (envelope) =>
      withRequestId(envelope.requestId ?? undefined, async () => {
        const handler = byType.get(envelope.type);
        if (!handler) throw new PoisonEventError(`no handler for ${envelope.type}`);
        const parsed = handler.contract.payload.safeParse(envelope.payload);
        if (!parsed.success) throw new PoisonEventError(`payload does not match ${envelope.type}: ${parsed.error.message}`);
        const applied = await options.orm.em.fork().transactional(async (em) => {
          const inserted = (await em.execute(
            `insert into handled_events (consumer, event_id) values (?, ?) on conflict do nothing returning event_id`,
            [options.group, envelope.id],
          )) as unknown[];
          if (inserted.length === 0) return false;
          await handler.handle(em, parsed.data, envelope);
          return true;
        });
        if (applied) {
          const occurredAt = Date.parse(envelope.occurredAt);
          if (Number.isFinite(occurredAt)) lag.observe({ consumer: options.group, type: envelope.type }, Math.max(0, Date.now() - occurredAt) / 1000);
          log.debug({ eventId: envelope.id, type: envelope.type }, 'event handled');
          options.afterCommit?.(envelope);
        }
      }),
  });
}
