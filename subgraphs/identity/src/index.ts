export { identitySubgraph, JWKS_PATH } from './app.ts';
export * as identityEvents from './events.ts';
