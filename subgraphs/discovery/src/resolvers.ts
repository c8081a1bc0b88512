import { decodeCursor, encodeCursor, idOrNull, keyOnlyReference, pageSize, parseId, badInput, type BaseRequestContext } from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { DiscoveryService } from './service.ts';

export interface DiscoveryContext extends BaseRequestContext {
  service: DiscoveryService;
}

/** An entity catalog owns, known here by its key. */
export interface EntityRef {
  id: string;
}
export interface RecommendationEdgeModel {
  node: EntityRef;
  reason: string;
}
export interface RecommendationsModel {
  edges: RecommendationEdgeModel[];
}
export interface RadioEdgeModel {
  cursor: string;
  node: EntityRef;
}
export interface RadioConnectionModel {
  edges: RadioEdgeModel[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** A radio cursor: the server-side session whose served set it continues. */
type RadioCursor = { session: string };
const isRadioCursor = (v: unknown): v is RadioCursor => typeof v === 'object' && v !== null && idOrNull((v as { session?: unknown }).session) !== null;

export const resolvers: Resolvers<DiscoveryContext> = {
  Query: {
    recommendedSongs: async (_root, { first }, ctx) => {
      const found = await ctx.service.recommendedSongs(ctx.principal, pageSize(first));
      return { edges: found.map((r) => ({ node: { id: r.songId }, reason: r.reason })) };
    },
    artistRadio: async (_root, { artistId, first, after }, ctx) => {
      const artist = parseId(artistId, 'artistId');
      const limit = pageSize(first);
      let session: string | null = null;
      if (after) {
        const cursor = decodeCursor(after, isRadioCursor);
        if (!cursor) throw badInput('after is not a valid cursor', 'after');
        session = cursor.session.toLowerCase();
      }
      const page = await ctx.service.artistRadio(ctx.principal, artist, limit, session);
      const cursor = encodeCursor({ session: page.sessionId });
      return {
        edges: page.songIds.map((id) => ({ cursor, node: { id } })),
        pageInfo: { hasNextPage: page.hasNextPage, endCursor: cursor },
      };
    },
  },
  Song: {
    __resolveReference: keyOnlyReference,
    similar: async (song, { first }, ctx) => (await ctx.service.similar(song.id, pageSize(first, 10))).map((id) => ({ id })),
  },
};
