export { ownershipSubgraph } from './app.ts';
export * as ownershipEvents from './events.ts';
