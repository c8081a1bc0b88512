import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

// ---- Published by catalog ----

export const ArtistCreated = defineEvent(
  'catalog.artist.created.v1',
  z.object({ artistId: z.uuid(), userId: z.uuid(), name: z.string() }),
);

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

export const publishes = [ArtistCreated, SongPublished, UploadStored];

// ---- Consumed. Their owners (rewards, payments) publish them; the contracts are declared
// here until those contexts exist, and move to their owners then. ----

/** A listen that met the anti-gaming rules (rewards). */
export const ListenCompleted = defineEvent(
  'listen.completed.v1',
  z.object({
    sessionId: z.uuid(),
    userId: z.uuid(),
    songId: z.uuid(),
    listenedSeconds: z.number().int().nonnegative(),
    completedAt: z.iso.datetime(),
  }),
);

/** A user's plan and limits changed (payments). A limit of null is unlimited. */
export const EntitlementsChanged = defineEvent(
  'billing.entitlements.changed.v1',
  z.object({
    userId: z.uuid(),
    planId: z.string(),
    entitlements: z.array(z.object({ key: z.string(), limit: z.number().int().nonnegative().nullable() })),
    changedAt: z.iso.datetime(),
  }),
);

export const consumes = [ListenCompleted, EntitlementsChanged];
