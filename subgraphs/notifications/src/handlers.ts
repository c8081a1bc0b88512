import { retryJobsNow, type EventHandler, type Persistence } from '@vibestream/platform';
import { CampaignNftMinted } from '@vibestream/contracts/campaigns';
import { SongPublished } from '@vibestream/contracts/catalog';
import { UserContactChanged } from '@vibestream/contracts/identity';
import { OrderFilled, RevenuePaid } from '@vibestream/contracts/ownership';
import { DepositSucceeded, SubscriptionChanged } from '@vibestream/contracts/payments';
import { VoucherIssued } from '@vibestream/contracts/rewards';
import { deliveryJobKinds } from './deliveries.ts';
import type { NotificationsService } from './service.ts';
import * as store from './store.ts';

/**
 * Each event becomes at most one notification for the user it names, in the transaction that
 * marks the event handled; `service.published` pushes it live once that transaction committed.
 */
export function notificationsHandlers(db: Persistence, service: NotificationsService): EventHandler[] {
  const on = db.on.bind(db);
  return [
    on(SongPublished, (tx, song) => store.upsertSong(tx, song)),
    // Where email goes and whom it greets: the highest version identity published wins. The user's
    // email jobs retrying for want of it are due at once, and this process's job worker wakes when
    // this commits (one whose attempt is running meanwhile retries at its backoff).
    on(UserContactChanged, async (tx, contact) => {
      if (await store.upsertContact(tx, contact)) await retryJobsNow(tx, deliveryJobKinds.EMAIL, { field: 'userId', value: contact.userId });
    }),
    on(VoucherIssued, async (tx, voucher, envelope) => {
      await service.receive(tx, envelope, {
        userId: voucher.userId,
        songId: voucher.songId,
        occurredAt: envelope.occurredAt,
        facts: { kind: 'REWARD_VOUCHER', amount: voucher.amount, epoch: voucher.epoch, leafIndex: voucher.leafIndex },
      });
    }),
    on(OrderFilled, async (tx, fill, envelope) => {
      await service.receive(tx, envelope, {
        userId: fill.userId,
        songId: fill.songId,
        occurredAt: envelope.occurredAt,
        facts: {
          kind: 'ORDER_FILLED',
          orderId: fill.orderId,
          side: fill.side,
          quantity: fill.quantity,
          averagePriceCents: fill.averagePriceCents,
          orderQuantity: fill.orderQuantity,
          filledQuantity: fill.filledQuantity,
          fullyFilled: fill.fullyFilled,
        },
      });
    }),
    on(RevenuePaid, async (tx, payout, envelope) => {
      await service.receive(tx, envelope, {
        userId: payout.userId,
        songId: payout.songId,
        occurredAt: envelope.occurredAt,
        facts: {
          kind: 'REVENUE_PAID',
          distributionId: payout.distributionId,
          amountCents: payout.amountCents,
          shares: payout.shares,
          periodLabel: payout.periodLabel,
        },
      });
    }),
    on(DepositSucceeded, async (tx, deposit, envelope) => {
      await service.receive(tx, envelope, {
        userId: deposit.userId,
        songId: null,
        occurredAt: deposit.succeededAt,
        facts: { kind: 'DEPOSIT_SUCCEEDED', depositId: deposit.depositId, amountCents: deposit.amountCents, method: deposit.method ?? null },
      });
    }),
    on(SubscriptionChanged, async (tx, change, envelope) => {
      await service.receive(tx, envelope, {
        userId: change.userId,
        songId: null,
        occurredAt: change.changedAt,
        facts: {
          kind: 'SUBSCRIPTION_CHANGED',
          planId: change.planId,
          previousPlanId: change.previousPlanId,
          status: change.status,
          cancelAtPeriodEnd: change.cancelAtPeriodEnd,
          currentPeriodEnd: change.currentPeriodEnd,
          changedAt: change.changedAt,
        },
      });
    }),
    on(CampaignNftMinted, async (tx, mint, envelope) => {
      await service.receive(tx, envelope, {
        userId: mint.userId,
        songId: mint.songId,
        occurredAt: mint.mintedAt,
        facts: {
          kind: 'CAMPAIGN_NFT_MINTED',
          campaignId: mint.campaignId,
          campaignName: mint.campaignName,
          editionNumber: mint.editionNumber,
          editionSize: mint.editionSize,
          walletAddress: mint.walletAddress,
          tokenId: mint.tokenId,
        },
      });
    }),
  ];
}
