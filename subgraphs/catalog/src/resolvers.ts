import {
  DateTimeScalar,
  badInput,
  keyOnlyReference,
  notFound,
  pageSize,
  parseId,
  parseOptionalId,
  privateToViewer,
  referenceById,
  validFor,
  type BaseRequestContext,
} from '@vibestream/platform';
import type { GraphQLResolveInfo } from 'graphql';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { CatalogConfig } from './config.ts';
import type { Song } from './entities.ts';
import { normalizeSearchQuery } from './domain/songs.ts';
import { WAVEFORM_PEAKS, resampleWaveform } from './domain/streaming.ts';
import { pageKey, type Loaders } from './loaders.ts';
import type { CatalogService } from './service.ts';

export interface CatalogContext extends BaseRequestContext {
  loaders: Loaders;
  service: CatalogService;
  config: CatalogConfig;
}

/** A User known to catalog only by its key; identity resolves the rest. */
export interface UserRef {
  id: string;
}

const viewerOf = (ctx: CatalogContext) => ctx.principal?.userId ?? null;

/** A song as the viewer may see it: drafts exist only for their artist (and are cached only for them). */
async function visible(ctx: CatalogContext, song: Song | null, info: GraphQLResolveInfo): Promise<Song | null> {
  if (!song || song.status === 'PUBLISHED') return song;
  const artist = await ctx.loaders.artist.load(song.artistId);
  if (!artist || artist.userId !== viewerOf(ctx)) return null;
  privateToViewer(info);
  return song;
}

async function found<T>(value: Promise<T | null>, what: string): Promise<T> {
  const result = await value;
  if (!result) throw notFound(what);
  return result;
}

export const resolvers: Resolvers<CatalogContext> = {
  DateTime: DateTimeScalar,
  Query: {
    song: async (_root, { id }, ctx, info) => {
      const song = await ctx.service.visibleSong(viewerOf(ctx), parseId(id, 'id'));
      if (song.status !== 'PUBLISHED') privateToViewer(info);
      return song;
    },
    artist: (_root, { id }, ctx) => found(ctx.loaders.artist.load(parseId(id, 'id')), 'Artist'),
    album: (_root, { id }, ctx) => found(ctx.loaders.album.load(parseId(id, 'id')), 'Album'),
    playlist: (_root, { id }, ctx) => found(ctx.loaders.playlist.load(parseId(id, 'id')), 'Playlist'),
    searchSongs: (_root, { query, first, after }, ctx) => {
      const q = normalizeSearchQuery(query);
      if (!q.ok) throw badInput(q.message, q.field);
      return ctx.service.search(q.value, first, after);
    },
    trendingSongs: (_root, { first }, ctx) => ctx.service.trending(first),
    // Not cached: the URL is signed for the caller's session and expires.
    songStream: (_root, { songId }, ctx) => ctx.service.songStream(ctx.principal, parseId(songId, 'songId')),
  },
  Mutation: {
    createArtistProfile: (_root, { input }, ctx) => ctx.service.createArtistProfile(ctx.principal, input),
    createAlbum: (_root, { input }, ctx) => ctx.service.createAlbum(ctx.principal, input),
    createSong: (_root, { input }, ctx) => ctx.service.createSong(ctx.principal, { ...input, albumId: parseOptionalId(input.albumId, 'input.albumId') }),
    requestSongUpload: (_root, { songId, contentType, byteSize }, ctx) =>
      ctx.service.requestSongUpload(ctx.principal, parseId(songId, 'songId'), contentType, byteSize),
    publishSong: (_root, { songId }, ctx) => ctx.service.publishSong(ctx.principal, parseId(songId, 'songId')),
    createPlaylist: (_root, { name }, ctx) => ctx.service.createPlaylist(ctx.principal, name),
    addSongToPlaylist: (_root, { playlistId, songId }, ctx) =>
      ctx.service.addSongToPlaylist(ctx.principal, parseId(playlistId, 'playlistId'), parseId(songId, 'songId')),
    removeSongFromPlaylist: (_root, { playlistId, songId }, ctx) =>
      ctx.service.removeSongFromPlaylist(ctx.principal, parseId(playlistId, 'playlistId'), parseId(songId, 'songId')),
  },
  Artist: {
    __resolveReference: referenceById((id, ctx: CatalogContext) => ctx.loaders.artist.load(id)),
    user: (artist) => ({ __typename: 'User' as const, id: artist.userId }),
    // Shows the viewer's own drafts among the rest: PRIVATE in the SDL, whoever asks.
    songs: (artist, { first, after }, ctx) => ctx.loaders.artistSongs.load(pageKey(artist.id, first, after)),
    albums: (artist, { first }, ctx) => {
      const size = pageSize(first);
      return ctx.loaders.albumsByArtist.load(artist.id).then((albums) => albums.slice(0, size));
    },
  },
  Album: {
    __resolveReference: referenceById((id, ctx: CatalogContext) => ctx.loaders.album.load(id)),
    artist: (album, _args, ctx) => found(ctx.loaders.artist.load(album.artistId), 'Artist'),
    songs: (album, _args, ctx) => ctx.loaders.songsByAlbum.load(album.id),
  },
  Song: {
    // An entity reference to a draft resolves to null for everyone but its artist: no leak through other subgraphs.
    __resolveReference: referenceById(async (id, ctx: CatalogContext, info) => visible(ctx, await ctx.loaders.song.load(id), info)),
    status: (song) => song.status,
    artist: (song, _args, ctx) => found(ctx.loaders.artist.load(song.artistId), 'Artist'),
    album: (song, _args, ctx) => (song.albumId ? ctx.loaders.album.load(song.albumId) : null),
    streamUrl: (song, _args, ctx, info) => {
      // A cached URL must stay usable for a while after it is served.
      validFor(info, ctx.config.STREAM_URL_TTL_SECONDS / 2);
      return ctx.service.streamUrl(song);
    },
    stream: async (song, _args, ctx, info) => {
      const job = await ctx.loaders.streamJob.load(song.id);
      if (!job) return null;
      if (job.status !== 'READY' || song.status !== 'PUBLISHED') {
        // The job itself is its artist's to see.
        const artist = await ctx.loaders.artist.load(song.artistId);
        if (!artist || artist.userId !== viewerOf(ctx)) return null;
        privateToViewer(info);
      }
      return {
        status: job.status,
        failureReason: job.status === 'FAILED' ? job.failureReason : null,
        renditions: job.status === 'READY' ? [...(job.renditions ?? [])].sort((a, b) => a.bitrateKbps - b.bitrateKbps) : [],
        loudnessLufs: job.status === 'READY' ? job.loudnessLufs : null,
        truePeakDbtp: job.status === 'READY' ? job.truePeakDbtp : null,
        waveform: job.status === 'READY' ? (job.waveform ?? []) : [],
      };
    },
  },
  AudioStream: {
    waveform: (stream, { points }) => {
      const n = points ?? 200;
      if (!Number.isInteger(n) || n < 1 || n > WAVEFORM_PEAKS) throw badInput(`points must be between 1 and ${WAVEFORM_PEAKS}`, 'points');
      return resampleWaveform(stream.waveform, n);
    },
  },
  Playlist: {
    __resolveReference: referenceById((id, ctx: CatalogContext) => ctx.loaders.playlist.load(id)),
    owner: (playlist) => ({ __typename: 'User' as const, id: playlist.ownerId }),
    songs: (playlist, { first, after }, ctx) => ctx.loaders.playlistSongs.load(pageKey(playlist.id, first, after, 50)),
  },
  User: {
    __resolveReference: keyOnlyReference,
    artistProfile: (user, _args, ctx) => ctx.loaders.artistByUser.load(user.id),
    playlists: (user, { first, after }, ctx) => ctx.loaders.playlistsByOwner.load(pageKey(user.id, first, after)),
  },
};
