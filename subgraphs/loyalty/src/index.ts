export { loyaltySubgraph } from './app.ts';
export * as loyaltyEvents from './events.ts';
