export { rewardsSubgraph, TREE_DEPTH } from './app.ts';
export * as rewardsEvents from './events.ts';
