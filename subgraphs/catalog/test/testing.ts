// Catalog's test helpers for other packages' tests (`@vibestream/catalog/testing`): sign-ups, artists,
// published songs through the gateway, and a WAV made in code.
export * from './helpers.ts';
export { makeWav } from './audio.ts';
