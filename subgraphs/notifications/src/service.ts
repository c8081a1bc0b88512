import { randomUUID } from 'node:crypto';
import {
  badInput,
  requireAuth,
  type EntityManager,
  type EventEnvelope,
  type LiveEvents,
  type Logger,
  type Principal,
} from '@vibestream/platform';
import { liveTopics } from './events.ts';
import { notificationKinds, sourceKey, type NotificationDraft, type NotificationFacts, type NotificationKind } from './domain/notifications.ts';

/** A row of `notifications`, as the resolvers read it. */
export interface NotificationRow {
  id: string;
  user_id: string;
  kind: NotificationKind;
  song_id: string | null;
  /** The facts without `kind` (see NotificationFacts). */
  data: Record<string, unknown>;
  created_at: Date | string;
  read_at: Date | string | null;
  seq: string;
}

export interface PreferencesModel {
  kinds: { kind: NotificationKind; enabled: boolean }[];
}

export const MAX_MARK_READ_IDS = 500;

export const factsOf = (row: NotificationRow): NotificationFacts => ({ ...row.data, kind: row.kind }) as NotificationFacts;

/** Every kind with its setting; kinds the user never changed are enabled. */
export function preferencesFrom(changed: Map<NotificationKind, boolean>): PreferencesModel {
  return { kinds: notificationKinds.map((kind) => ({ kind, enabled: changed.get(kind) ?? true })) };
}

export class NotificationsService {
  private readonly live: LiveEvents;
  private readonly log: Logger;
  /** Notifications a consumer transaction created, published once that transaction commits. */
  private readonly pending = new WeakMap<EventEnvelope, NotificationRow>();

  constructor(deps: { live: LiveEvents; log: Logger }) {
    this.live = deps.live;
    this.log = deps.log;
  }

  /**
   * Keeps a notification for an event, inside the consumer's transaction: nothing when the user
   * disabled its kind, nothing when the same business event was already kept.
   */
  async receive(em: EntityManager, envelope: EventEnvelope, draft: NotificationDraft): Promise<NotificationRow | null> {
    const { kind, ...data } = draft.facts;
    const [preference] = (await em.execute('select enabled from notification_preferences where user_id = ? and kind = ?', [draft.userId, kind])) as {
      enabled: boolean;
    }[];
    if (preference && !preference.enabled) return null;
    const [row] = (await em.execute(
      `insert into notifications (id, user_id, kind, source_key, song_id, data, created_at)
       values (?, ?, ?, ?, ?, ?::jsonb, date_trunc('milliseconds', ?::timestamptz))
       on conflict on constraint notifications_source_key do nothing
       returning *`,
      [randomUUID(), draft.userId, kind, sourceKey(draft.facts), draft.songId, JSON.stringify(data), draft.occurredAt],
    )) as NotificationRow[];
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
  async markRead(em: EntityManager, principal: Principal | null, ids: readonly string[]): Promise<number> {
    const p = requireAuth(principal);
    if (ids.length > MAX_MARK_READ_IDS) throw badInput(`ids may name at most ${MAX_MARK_READ_IDS} notifications`, 'ids');
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    if (unique.length === 0) return 0;
    const marked = (await em.execute(
      `update notifications set read_at = now() where user_id = ? and read_at is null and id in (${unique.map(() => '?').join(', ')}) returning id`,
      [p.userId, ...unique],
    )) as unknown[];
    return marked.length;
  }

  async markAllRead(em: EntityManager, principal: Principal | null): Promise<number> {
    const p = requireAuth(principal);
    const marked = (await em.execute('update notifications set read_at = now() where user_id = ? and read_at is null returning id', [p.userId])) as unknown[];
    return marked.length;
  }

  async updatePreferences(
    em: EntityManager,
    principal: Principal | null,
    input: { kinds: readonly { kind: NotificationKind; enabled: boolean }[] },
  ): Promise<PreferencesModel> {
    const p = requireAuth(principal);
    const seen = new Set<NotificationKind>();
    for (const { kind } of input.kinds) {
      if (seen.has(kind)) throw badInput(`input.kinds lists ${kind} more than once`, 'input.kinds');
      seen.add(kind);
    }
    if (input.kinds.length > 0) {
      await em.execute(
        `insert into notification_preferences (user_id, kind, enabled) values ${input.kinds.map(() => '(?, ?, ?)').join(', ')}
         on conflict (user_id, kind) do update set enabled = excluded.enabled, updated_at = now()`,
        input.kinds.flatMap(({ kind, enabled }) => [p.userId, kind, enabled]),
      );
    }
    return this.preferences(em, p.userId);
  }

  async preferences(em: EntityManager, userId: string): Promise<PreferencesModel> {
    const rows = (await em.execute('select kind, enabled from notification_preferences where user_id = ?', [userId])) as { kind: NotificationKind; enabled: boolean }[];
    return preferencesFrom(new Map(rows.map((r) => [r.kind, r.enabled])));
  }
}
