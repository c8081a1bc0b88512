import { defineEntity, p } from '@mikro-orm/core';
import type { MigrationObject } from '@mikro-orm/core';
import { sqlMigration } from '../migration.ts';

/** Events written in the same transaction as the state change that caused them. */
export const OutboxEventEntity = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox_events',
  properties: {
    id: p.uuid().primary(),
    seq: p.bigint('number').autoincrement(false).persist(false).nullable(),
    type: p.string(),
    source: p.string(),
    payload: p.json<Record<string, unknown>>(),
    requestId: p.string().nullable(),
    occurredAt: p.datetime(),
    publishedAt: p.datetime().nullable(),
  },
});

/** Event ids a consumer group has already applied, recorded in the same transaction as the effect. */
export const HandledEventEntity = defineEntity({
  name: 'HandledEvent',
  tableName: 'handled_events',
  properties: {
    consumer: p.string().primary(),
    eventId: p.uuid().primary(),
    handledAt: p.datetime(),
  },
});

export const platformMigrations: MigrationObject[] = [
  sqlMigration(
    '0000_platform_outbox',
    `
create table outbox_events (
  id uuid primary key,
  seq bigserial not null unique,
  type text not null,
  source text not null,
  payload jsonb not null,
  request_id text,
  occurred_at timestamptz not null,
  published_at timestamptz
);
create index outbox_events_unpublished on outbox_events (seq) where published_at is null;
create table handled_events (
  consumer text not null,
  event_id uuid not null,
  handled_at timestamptz not null default now(),
  primary key (consumer, event_id)
);
`,
  ),
  sqlMigration(
    '0000_platform_in_process_bus',
    `
-- The in-process bus keeps nothing across a restart: set once every consumer group is done with
-- the event; at start, published rows without it are published again.
alter table outbox_events add column delivered_at timestamptz;
-- The in-process bus's dead letters of this context's consumer group (Redis keeps them in streams).
create table dead_letters (
  id bigserial primary key,
  consumer text not null,
  event_id text,
  type text not null,
  envelope jsonb not null,
  error text not null,
  dead_at timestamptz not null default now()
);
create index dead_letters_by_type on dead_letters (consumer, type, id);
`,
  ),
];
