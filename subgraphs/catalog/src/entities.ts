// catalog's models are the rows its store parses (store.ts); named here for the GraphQL mappers (codegen.ts).
export type { Album, Artist, Playlist, Song } from './store.ts';
