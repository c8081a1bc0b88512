/**
 * notifications publishes no domain events. It consumes (see handlers.ts):
 *   rewards.voucher.issued.v1, ownership.order.filled.v1, ownership.revenue.paid.v1,
 *   payments.deposit.succeeded.v1, payments.subscription.changed.v1, campaigns.nft.minted.v1,
 * and projects catalog.song.published.v1 for song titles.
 */
export const publishes = [];

/** Live events (GraphQL subscriptions) this context publishes: each user's own topic. */
export const liveTopics = {
  notificationAdded: (userId: string) => `notificationAdded:${userId}`,
};
