// rewards' event contracts live in @vibestream/contracts (contracts/src/rewards.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/rewards';

/** Consumed: catalog.song.published.v1 (song durations and artists) and rewards.pool.funded.v1 (see handlers.ts). */

/** Live events (GraphQL subscriptions) this context publishes. */
export const liveTopics = {
  voucherIssued: (userId: string) => `rewardVoucherIssued:${userId}`,
  claimed: (recipient: string) => `rewardClaimed:${recipient.toLowerCase()}`,
};
