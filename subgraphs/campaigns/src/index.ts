export { campaignsSubgraph } from './app.ts';
export * as campaignsEvents from './events.ts';
