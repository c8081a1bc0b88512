import type { EventEnvelope, EventHandler, Persistence } from '@vibestream/platform';
import { CampaignNftMinted } from '@vibestream/contracts/campaigns';
import { ArtistCreated, SongPublished } from '@vibestream/contracts/catalog';
import { UserRegistered } from '@vibestream/contracts/identity';
import { OfferingSharesBought, TicketPaymentFailed, TicketPaymentSucceeded, TradeExecuted } from '@vibestream/contracts/ownership';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import type { LoyaltyService } from './service.ts';
import * as store from './store.ts';

/** loyalty's projections and its purchase saga's answers, each in the transaction that marks the event handled. */
export function loyaltyHandlers(db: Persistence, service: LoyaltyService): EventHandler[] {
  return [
    db.on(UserRegistered, (tx, user) => store.insertUser(tx, user.userId), { key: (user) => user.userId }),
    db.on(ArtistCreated, (tx, artist) => store.upsertArtist(tx, artist), { key: (artist) => artist.userId }),
    db.on(SongPublished, (tx, song) => store.upsertSong(tx, song)),
    // Fan signals: listens, shares held (bought minus sold), campaign NFTs, per song.
    db.on(ListenCompleted, (tx, listen) => store.addSignals(tx, listen.userId, listen.songId, { listens: 1 })),
    db.on(OfferingSharesBought, (tx, bought) => store.addSignals(tx, bought.userId, bought.songId, { shares: bought.quantity })),
    db.on(TradeExecuted, async (tx, trade) => {
      await store.addSignals(tx, trade.buyerId, trade.songId, { shares: trade.quantity });
      await store.addSignals(tx, trade.sellerId, trade.songId, { shares: -trade.quantity });
    }),
    db.on(CampaignNftMinted, (tx, mint) => store.addSignals(tx, mint.userId, mint.songId, { campaignNfts: 1 })),
    // The purchase saga: ownership's answer issues the tickets or releases the reservation.
    db.on(TicketPaymentSucceeded, (tx, paid) => service.paymentSucceeded(tx, paid.purchaseId)),
    db.on(TicketPaymentFailed, (tx, failed) => service.paymentFailed(tx, failed.purchaseId, failed.reason)),
  ];
}

/** After a handled event committed: a settled purchase wakes the buyTickets call waiting for it here. */
export function afterCommit(service: LoyaltyService, envelope: EventEnvelope): void {
  if (envelope.type === TicketPaymentSucceeded.type || envelope.type === TicketPaymentFailed.type) {
    const purchaseId = envelope.payload.purchaseId;
    if (typeof purchaseId === 'string') service.settled(purchaseId);
  }
}
