export { paymentsSubgraph } from './app.ts';
export * as paymentsEvents from './events.ts';
