// One context on its own schema, for its service and store tests: its migrations on a fresh test
// database, its Persistence, and its real consumer on an in-process bus that the test feeds with
// other contexts' events. No gateway, no other context, no HTTP.
import { randomUUID } from 'node:crypto';
import {
  createLogger,
  MemoryTransport,
  newEnvelope,
  openDatabase,
  openPersistence,
  startConsumer,
  type DatabaseOptions,
  type EventContract,
  type EventEnvelope,
  type EventHandler,
  type Logger,
  type MikroORM,
  type PayloadOf,
  type Persistence,
  type RunningConsumer,
} from '@vibestream/platform';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface ContextHarness {
  database: TestDatabase;
  orm: MikroORM;
  /** The context's Persistence, as its subgraph gets it. */
  db: Persistence;
  log: Logger;
  /** How many times a use case that recorded events woke the relay. */
  relayWakes(): number;
  /** Starts the context's real consumer (handled-events dedupe, retries, dead letters) with these handlers. */
  consume(handlers: EventHandler[]): void;
  /**
   * Delivers another context's event, checked against its contract, `times` times (the first twice
   * under one id, a plain redelivery; then under fresh ids), and waits until the consumer handled or
   * dead-lettered each delivery.
   */
  inject<C extends EventContract>(contract: C, payload: PayloadOf<C>, options?: { times?: number; occurredAt?: string }): Promise<EventEnvelope[]>;
  /** Events the context's use cases committed to its outbox, oldest first; only those of `type` when named. */
  recorded(type?: string): Promise<EventEnvelope[]>;
  /** Dead letters of the context's consumer group for `type`. */
  deadLetters(type: string): Promise<unknown[]>;
  close(): Promise<void>;
}

export async function openContext(options: {
  /** The context's name: its schema, its events' source, its consumer group. */
  name: string;
  migrations: DatabaseOptions['migrations'];
  entities?: DatabaseOptions['entities'];
}): Promise<ContextHarness> {
  const log = createLogger(`${options.name}-context-test`, process.env.TEST_LOG_LEVEL ?? 'silent');
  const database = await createTestDatabase(options.name.slice(0, 12));
  const orm = await openDatabase({
    url: database.url,
    schema: options.name,
    entities: options.entities ?? [],
    migrations: options.migrations,
    log,
  });
  let wakes = 0;
  const db = openPersistence(orm, { source: options.name, onEventsCommitted: () => void wakes++ });
  const transport = new MemoryTransport(log);
  let consumer: RunningConsumer | null = null;

  return {
    database,
    orm,
    db,
    log,
    relayWakes: () => wakes,
    consume(handlers) {
      if (consumer) throw new Error('the consumer is already started');
      consumer = startConsumer({ orm, transport, group: options.name, handlers, log, retry: { maxAttempts: 3, backoffMs: 10, maxBackoffMs: 50 } });
      transport.consumersStarted();
    },
    async inject(contract, payload, injectOptions = {}) {
      if (!consumer) throw new Error('start the consumer first: consume(handlers)');
      const base = newEnvelope(contract.type.split('.')[0]!, contract.type, contract.payload.parse(payload) as Record<string, unknown>);
      const first = injectOptions.occurredAt ? { ...base, occurredAt: injectOptions.occurredAt } : base;
      const envelopes = Array.from({ length: injectOptions.times ?? 1 }, (_, i) => (i < 2 ? first : { ...first, id: randomUUID() }));
      for (const envelope of envelopes) {
        await transport.append(envelope);
        await transport.settled(envelope.id);
      }
      return envelopes;
    },
    async recorded(type) {
      const found = await orm.em
        .fork()
        .getConnection()
        .execute<{ id: string; type: string; source: string; payload: Record<string, unknown>; request_id: string | null; occurred_at: Date | string }[]>(
          `select id, type, source, payload, request_id, occurred_at from outbox_events ${type ? 'where type = ?' : ''} order by seq`,
          type ? [type] : [],
        );
      return found.map((r) => ({
        id: r.id,
        type: r.type,
        source: r.source,
        payload: r.payload,
        requestId: r.request_id,
        occurredAt: new Date(r.occurred_at).toISOString(),
      }));
    },
    deadLetters: (type) => transport.deadLetters(type),
    async close() {
      await consumer?.stop();
      await transport.close();
      await orm.close();
      await database.drop();
    },
  };
}
