// ownership's event contracts live in @vibestream/contracts (contracts/src/ownership.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/ownership';

// ---- Consumed: payments.deposit.succeeded.v1 (payments' contract, imported in handlers.ts). ----

export const liveTopics = {
  tradeExecuted: (songId: string) => `tradeExecuted:${songId}`,
  orderBookUpdated: (songId: string) => `orderBookUpdated:${songId}`,
};
