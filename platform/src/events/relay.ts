import type { MikroORM } from '@mikro-orm/postgresql';
import { detached } from '../detached.ts';
import type { Logger } from '../logger.ts';
import type { EventTransport } from './transport.ts';

const KICK_DELAY_MS = 3;

interface OutboxRow {
  id: string;
  type: string;
  source: string;
  payload: Record<string, unknown>;
  request_id: string | null;
  occurred_at: Date | string;
  seq: string | number;
}

export interface RelayOptions {
  intervalMs?: number;
  batchSize?: number;
  /** Published rows older than this are deleted. */
  retentionHours?: number;
}

/**
 * Moves committed outbox rows to the transport. Rows are locked with SKIP LOCKED so replicas
 * share the work, and marked published only after the transport accepted them: delivery is
 * at least once, and consumers' handled-events tables make it take effect once.
 * On a transport that keeps nothing across a restart (the in-process bus), a row is also marked
 * delivered once every consumer group is done with it, and at start the relay publishes again
 * every row that was published but not delivered: the outbox is the source of truth.
 */
export class OutboxRelay {
  private readonly orm: MikroORM;
  private readonly transport: EventTransport;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly retentionHours: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private again = false;
  private stopped = true;
  private failures = 0;
  private lastCleanup = 0;
  private replayPending: boolean;
  /** Published events every consumer group is done with, to be marked delivered. */
  private readonly settledIds: string[] = [];
  private marking: Promise<void> | null = null;

  constructor(orm: MikroORM, transport: EventTransport, log: Logger, options: RelayOptions = {}) {
    this.orm = orm;
    this.transport = transport;
    this.log = log.child({ component: 'outbox-relay' });
    this.intervalMs = options.intervalMs ?? 250;
    this.batchSize = options.batchSize ?? 200;
    this.retentionHours = options.retentionHours ?? 72;
    this.replayPending = transport.settled !== undefined;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.marking;
  }

  /** Asks for a pass soon: called after a transaction that wrote events commits. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // A few milliseconds' wait lets the events of concurrent requests go out in one batch.
    this.schedule(KICK_DELAY_MS);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    // In the root context: relay passes never join the transaction or carry the request id of whoever kicked them.
    this.timer = detached(() => setTimeout(() => void this.tick(), delayMs));
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.again = false;
    let published = 0;
    try {
      this.running = this.pass();
      published = await this.running;
      this.failures = 0;
      await this.cleanup();
    } catch (error) {
      this.failures++;
      this.log.warn({ err: error, failures: this.failures }, 'outbox relay pass failed; will retry');
    } finally {
      this.running = null;
    }
    const backoff = this.failures > 0 ? Math.min(10_000, this.intervalMs * 2 ** this.failures) : this.intervalMs;
    this.schedule(this.failures === 0 && (this.again || published === this.batchSize) ? 0 : backoff);
  }

  private async pass(): Promise<number> {
    if (this.replayPending) {
      await this.replayUndelivered();
      this.replayPending = false;
    }
    return this.relayOnce();
  }

  /**
   * Publishes one batch; returns how many events it moved. The rows are marked and read in one
   * statement, appended in one pipeline, and the mark commits only after the transport took them.
   */
  async relayOnce(): Promise<number> {
    const ids = await this.publishBatch();
    const { settled } = this.transport;
    if (settled) for (const id of ids) void settled.call(this.transport, id).then(() => this.markDelivered(id));
    return ids.length;
  }

  private publishBatch(): Promise<string[]> {
    const em = this.orm.em.fork();
    return em.transactional(async (tx) => {
      const rows = (await tx.execute(
        `update outbox_events o set published_at = now()
           from (select id from outbox_events where published_at is null order by seq limit ? for update skip locked) batch
          where o.id = batch.id
          returning o.id, o.type, o.source, o.payload, o.request_id, o.occurred_at, o.seq`,
        [this.batchSize],
      )) as OutboxRow[];
      if (rows.length === 0) return [];
      rows.sort((a, b) => Number(a.seq) - Number(b.seq));
      await this.transport.appendAll(
        rows.map((row) => ({
          id: row.id,
          type: row.type,
          source: row.source,
          occurredAt: new Date(row.occurred_at).toISOString(),
          requestId: row.request_id,
          payload: row.payload,
        })),
      );
      return rows.map((row) => row.id);
    });
  }

  /**
   * Marks an event delivered once the consumers are done with it, together with the others settled
   * meanwhile. What is not marked before a stop is published again at the next start.
   */
  private markDelivered(id: string): void {
    if (this.stopped) return;
    this.settledIds.push(id);
    this.marking ??= this.markSettled().finally(() => (this.marking = null));
  }

  private async markSettled(): Promise<void> {
    while (this.settledIds.length > 0 && !this.stopped) {
      const ids = this.settledIds.splice(0);
      try {
        await this.orm.em.fork().execute('update outbox_events set delivered_at = now() where id in (?)', [ids]);
      } catch (error) {
        this.log.warn({ err: error, events: ids.length }, 'could not mark events delivered; they are published again at the next start');
      }
    }
  }

  /** Publishes again, at start, what consumer groups may not have handled before the process stopped. */
  private async replayUndelivered(): Promise<void> {
    const replayed = (await this.orm.em
      .fork()
      .execute('update outbox_events set published_at = null where published_at is not null and delivered_at is null returning id')) as unknown[];
    if (replayed.length > 0) this.log.info({ events: replayed.length }, 'publishing again the events not delivered before the last stop');
  }

  private async cleanup(): Promise<void> {
    if (Date.now() - this.lastCleanup < 3_600_000) return;
    this.lastCleanup = Date.now();
    // Without a durable transport, a row is kept until it was delivered: it is what a restart replays.
    const done = this.transport.settled ? 'delivered_at' : 'published_at';
    await this.orm.em.fork().execute(`delete from outbox_events where ${done} < now() - make_interval(hours => ?)`, [this.retentionHours]);
  }
}
