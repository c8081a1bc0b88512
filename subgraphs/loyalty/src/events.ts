// loyalty's event contracts live in @vibestream/contracts (contracts/src/loyalty.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/loyalty';

// Consumed (handlers.ts): identity.user.registered.v1, catalog.artist.created.v1, catalog.song.published.v1,
// listen.completed.v1, ownership.trade.executed.v1, campaigns.nft.minted.v1,
// ownership.ticket_payment.succeeded.v1 and ownership.ticket_payment.failed.v1.
