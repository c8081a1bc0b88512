import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

// ---- Published by catalog ----

export const ArtistCreated = defineEvent('catalog.artist.created.v1', z.object({ artistId: z.uuid(), userId: z.uuid(), name: z.string() }));

/** Rewards, ownership and campaigns learn songs' artists and durations from this. */
export const SongPublished = defineEvent(
  'catalog.song.published.v1',
  z.object({
    songId: z.uuid(),
    artistId: z.uuid(),
    artistUserId: z.uuid(),
    title: z.string(),
    genre: z.string(),
    durationSeconds: z.number().int().nonnegative(),
    publishedAt: z.iso.datetime(),
  }),
);

/** Usage counters (payments' entitlements `used`). */
export const UploadStored = defineEvent(
  'catalog.upload.stored.v1',
  z.object({ uploadId: z.uuid(), userId: z.uuid(), songId: z.uuid(), bytes: z.number().int().nonnegative(), storedAt: z.iso.datetime() }),
);

/**
 * A song was added to a playlist (once per playlist and song: only an add that inserted the row records it;
 * an add after a removal is a new add). discovery counts it as the owner's interaction with the song.
 */
export const PlaylistSongAdded = defineEvent(
  'catalog.playlist.song_added.v1',
  z.object({ playlistId: z.uuid(), songId: z.uuid(), userId: z.uuid(), addedAt: z.iso.datetime() }),
);

export const publishes = [ArtistCreated, SongPublished, UploadStored, PlaylistSongAdded];
