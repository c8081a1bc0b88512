// identity's event contracts live in @vibestream/contracts (contracts/src/identity.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/identity';

/** identity consumes no other context's events. */
export const consumes = [];
