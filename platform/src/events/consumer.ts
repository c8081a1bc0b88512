import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { detached } from '../detached.ts';
import type { Logger } from '../logger.ts';
import { withRequestId } from '../logger.ts';
import { processMetrics } from '../telemetry.ts';
import { PoisonEventError, type EventContract, type EventEnvelope, type PayloadOf } from './contract.ts';
import { deadLetterTable } from './dead-letters.ts';
import type { ProjectionWaits } from './projection-waits.ts';
import type { EventTransport, RetryPolicy, RunningConsumer } from './transport.ts';

export interface EventHandler<C extends EventContract = EventContract> {
  contract: C;
  /**
   * Runs inside the transaction that records the event as handled; what it answers (a function)
   * runs once that transaction committed.
   */
  handle: (em: EntityManager, payload: PayloadOf<C>, envelope: EventEnvelope) => Promise<void | (() => void)>;
  /** The id of what the handler makes known (a song's id): lookups waiting for it (ProjectionWaits) wake at its commit. */
  key?: (payload: PayloadOf<C>) => string;
}

export function on<C extends EventContract>(contract: C, handle: EventHandler<C>['handle'], options: { key?: EventHandler<C>['key'] } = {}): EventHandler<C> {
  return { contract, handle, ...options };
}

/**
 * Subscribes a context's handlers. Each event's effect and its handled-events row commit
 * in one transaction, so a redelivered event is skipped and a failed one leaves no trace.
 * Whatever the transport and whoever delivered the event, a handler runs in the process's root
 * async context on a fresh fork of this context's ORM: its own connection and transaction.
 */
export function startConsumer(options: {
  orm: MikroORM;
  transport: EventTransport;
  group: string;
  handlers: EventHandler[];
  log: Logger;
  retry?: Partial<RetryPolicy>;
  /** Woken after each commit of a handler that names its key. */
  projections?: ProjectionWaits;
  /** Called after an event's transaction committed. */
  afterCommit?: (envelope: EventEnvelope) => void;
}): RunningConsumer {
  const byType = new Map(options.handlers.map((h) => [h.contract.type, h]));
  const log = options.log.child({ consumer: options.group });
  const lag = processMetrics().eventDeliveryLag;

  async function handle(envelope: EventEnvelope): Promise<void> {
    const handler = byType.get(envelope.type);
    if (!handler) throw new PoisonEventError(`no handler for ${envelope.type}`);
    const parsed = handler.contract.payload.safeParse(envelope.payload);
    if (!parsed.success) throw new PoisonEventError(`payload does not match ${envelope.type}: ${parsed.error.message}`);
    const em = options.orm.em.fork({ disableContextResolution: true });
    let committed: (() => void) | undefined;
    const applied = await em.transactional(async (tx) => {
      const inserted = (await tx.execute(`insert into handled_events (consumer, event_id) values (?, ?) on conflict do nothing returning event_id`, [
        options.group,
        envelope.id,
      ])) as unknown[];
      if (inserted.length === 0) return false;
      committed = (await handler.handle(tx, parsed.data, envelope)) ?? undefined;
      return true;
    });
    if (!applied) return;
    committed?.();
    const occurredAt = Date.parse(envelope.occurredAt);
    if (Number.isFinite(occurredAt)) lag.observe({ consumer: options.group, type: envelope.type }, Math.max(0, Date.now() - occurredAt) / 1000);
    log.debug({ eventId: envelope.id, type: envelope.type }, 'event handled');
    if (handler.key) options.projections?.committed(envelope.type, handler.key(parsed.data));
    options.afterCommit?.(envelope);
  }

  return options.transport.consume({
    group: options.group,
    types: [...byType.keys()],
    ...(options.retry ? { retry: options.retry } : {}),
    deadLetters: deadLetterTable(options.orm, options.group),
    handle: (envelope) => detached(() => withRequestId(envelope.requestId ?? undefined, () => handle(envelope))),
  });
}
