// payments' event contracts live in @vibestream/contracts (contracts/src/payments.ts), each version frozen by
// its JSON Schema snapshot; re-exported here for this context and its consumers.
export * from '@vibestream/contracts/payments';
