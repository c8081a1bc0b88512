// campaigns' event contracts live in @vibestream/contracts (contracts/src/campaigns.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/campaigns';
