import { randomUUID } from 'node:crypto';
import { badInput, requireAuth, type EventEnvelope, type LiveEvents, type Logger, type Persistence, type Principal, type Tx } from '@vibestream/platform';
import { liveTopics } from './events.ts';
import { notificationKinds, sourceKey, type NotificationDraft, type NotificationFacts, type NotificationKind } from './domain/notifications.ts';
import * as store from './store.ts';
import type { NotificationRow } from './store.ts';

export type { NotificationRow } from './store.ts';

export interface PreferencesModel {
  kinds: { kind: NotificationKind; enabled: boolean }[];
}

export const MAX_MARK_READ_IDS = 500;

export const factsOf = (row: NotificationRow): NotificationFacts => ({ ...row.data, kind: row.kind }) as NotificationFacts;

/** Every kind with its setting; kinds the user never changed are enabled. */
export function preferencesFrom(changed: Map<NotificationKind, boolean>): PreferencesModel {
  return { kinds: notificationKinds.map((kind) => ({ kind, enabled: changed.get(kind) ?? true })) };
}

/** notifications' use cases: each change runs through `db.useCase` (or in a consumer's Tx); the SQL is in store.ts. */
export class NotificationsService {
  private readonly db: Persistence;
  private readonly live: LiveEvents;
  private readonly log: Logger;
  /** Notifications a consumer transaction created, published once that transaction commits. */
  private readonly pending = new WeakMap<EventEnvelope, NotificationRow>();

  constructor(deps: { db: Persistence; live: LiveEvents; log: Logger }) {
    this.db = deps.db;
    this.live = deps.live;
    this.log = deps.log;
  }

  /**
   * Keeps a notification for an event, inside the consumer's transaction: nothing when the user
   * disabled its kind, nothing when the same business event was already kept.
   */
  async receive(tx: Tx, envelope: EventEnvelope, draft: NotificationDraft): Promise<NotificationRow | null> {
    const { kind, ...data } = draft.facts;
    if ((await store.preferenceOf(tx, draft.userId, kind)) === false) return null;
    const row = await store.insertNotification(tx, {
      id: randomUUID(),
      userId: draft.userId,
      kind,
      sourceKey: sourceKey(draft.facts),
      songId: draft.songId,
      data,
      occurredAt: draft.occurredAt,
    });
    if (row) this.pending.set(envelope, row);
    return row ?? null;
  }

  /** After the consumer's commit: pushes the notification the event created, if any. */
  published(envelope: EventEnvelope): void {
    const row = this.pending.get(envelope);
    if (!row) return;
    this.pending.delete(envelope);
    this.live
      .publish(liveTopics.notificationAdded(row.user_id), { id: row.id, kind: row.kind, occurredAt: new Date(row.created_at).toISOString() })
      .catch((error: unknown) => this.log.warn({ err: error, notificationId: row.id }, 'live notification not published'));
  }

  /** Marks the caller's own unread notifications among `ids` (parsed ids) read; answers how many changed. */
  async markRead(principal: Principal | null, ids: readonly string[]): Promise<number> {
    const p = requireAuth(principal);
    if (ids.length > MAX_MARK_READ_IDS) throw badInput(`ids may name at most ${MAX_MARK_READ_IDS} notifications`, 'ids');
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    if (unique.length === 0) return 0;
    return this.db.useCase((tx) => store.markRead(tx, p.userId, unique));
  }

  async markAllRead(principal: Principal | null): Promise<number> {
    const p = requireAuth(principal);
    return this.db.useCase((tx) => store.markAllRead(tx, p.userId));
  }

  async updatePreferences(principal: Principal | null, input: { kinds: readonly { kind: NotificationKind; enabled: boolean }[] }): Promise<PreferencesModel> {
    const p = requireAuth(principal);
    const seen = new Set<NotificationKind>();
    for (const { kind } of input.kinds) {
      if (seen.has(kind)) throw badInput(`input.kinds lists ${kind} more than once`, 'input.kinds');
      seen.add(kind);
    }
    return this.db.useCase(async (tx) => {
      await store.upsertPreferences(tx, p.userId, input.kinds);
      const rows = await store.preferencesByUser(tx, [p.userId]);
      return preferencesFrom(new Map(rows.map((r) => [r.kind, r.enabled])));
    });
  }
}
