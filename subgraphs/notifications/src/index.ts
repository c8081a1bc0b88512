export { notificationsSubgraph } from './app.ts';
export * as notificationsEvents from './events.ts';
