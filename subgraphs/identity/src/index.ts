export { identitySubgraph, JWKS_PATH, INTERNAL_API_TOKEN_SECRET } from './app.ts';
export { API_KEY_VERIFY_PATH, INTERNAL_TOKEN_HEADER, type ApiKeyVerdict } from './api-keys.ts';
export * as identityEvents from './events.ts';
