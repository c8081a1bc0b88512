import { on, type EventHandler } from '@vibestream/platform';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { EntitlementsChanged } from '@vibestream/contracts/payments';
import { limitsFromEntitlements } from './domain/plans.ts';

/** catalog's projections of other contexts' events; each runs in the transaction that marks the event handled. */
export const catalogHandlers: EventHandler[] = [
  on(ListenCompleted, async (em, listen, envelope) => {
    const inserted = (await em.execute(
      'insert into listens (event_id, song_id, completed_at) values (?, ?, ?) on conflict do nothing returning event_id',
      [envelope.id, listen.songId, listen.completedAt],
    )) as unknown[];
    if (inserted.length) await em.execute('update songs set play_count = play_count + 1 where id = ?', [listen.songId]);
  }),
  on(EntitlementsChanged, async (em, change) => {
    const limits = limitsFromEntitlements(change.planId, change.entitlements);
    // Out-of-order delivery never rolls a newer plan back.
    await em.execute(
      `insert into user_plans (user_id, plan_id, uploads_monthly, storage_bytes, changed_at) values (?, ?, ?, ?, ?)
       on conflict (user_id) do update set plan_id = excluded.plan_id, uploads_monthly = excluded.uploads_monthly,
         storage_bytes = excluded.storage_bytes, changed_at = excluded.changed_at
       where user_plans.changed_at < excluded.changed_at`,
      [change.userId, limits.planId, limits.uploadsMonthly, limits.storageBytes, change.changedAt],
    );
  }),
];
