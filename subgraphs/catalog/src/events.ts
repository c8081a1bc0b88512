// catalog's event contracts live in @vibestream/contracts (contracts/src/catalog.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/catalog';

// ---- Consumed: listen.completed.v1 (rewards') and billing.entitlements.changed.v1 (payments'), imported in handlers.ts. ----
