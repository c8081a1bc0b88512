import type { EventHandler, Persistence } from '@vibestream/platform';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { EntitlementsChanged } from '@vibestream/contracts/payments';
import { limitsFromEntitlements } from './domain/plans.ts';
import { streamLimitFromEntitlements } from './domain/streaming.ts';
import * as store from './store.ts';

/** catalog's projections of other contexts' events; each runs in the transaction that marks the event handled. */
export function catalogHandlers(db: Persistence): EventHandler[] {
  return [
    db.on(ListenCompleted, (tx, listen, envelope) => store.recordListen(tx, envelope.id, listen.songId, listen.completedAt)),
    db.on(EntitlementsChanged, async (tx, change) => {
      const limits = limitsFromEntitlements(change.planId, change.entitlements);
      await store.savePlanLimits(tx, {
        userId: change.userId,
        ...limits,
        streamMaxBitrateKbps: streamLimitFromEntitlements(change.planId, change.entitlements),
        changedAt: change.changedAt,
      });
    }),
  ];
}
