export { catalogSubgraph } from './app.ts';
export * as catalogEvents from './events.ts';
