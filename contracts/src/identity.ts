import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

/** Published: a new account exists. */
export const UserRegistered = defineEvent(
  'identity.user.registered.v1',
  z.object({
    userId: z.uuid(),
    displayName: z.string(),
    roles: z.array(z.enum(['FAN', 'ARTIST', 'ADMIN'])),
    registeredAt: z.iso.datetime(),
  }),
);

/** Published: an admin changed a user's roles. */
export const UserRolesChanged = defineEvent(
  'identity.user.roles_changed.v1',
  z.object({
    userId: z.uuid(),
    roles: z.array(z.enum(['FAN', 'ARTIST', 'ADMIN'])),
  }),
);

/** Published: a wallet was linked to an account. */
export const WalletLinked = defineEvent(
  'identity.wallet.linked.v1',
  z.object({
    userId: z.uuid(),
    chain: z.enum(['ETHEREUM', 'SOLANA']),
    address: z.string(),
  }),
);

/**
 * Published: where to reach a user changed: at registration, when an email is verified, when an
 * account changes its email (unverified again until the new address is verified) or its display
 * name. Carries the whole current contact, so a consumer keeps the latest by `version`.
 */
export const UserContactChanged = defineEvent(
  'identity.user.contact_changed.v1',
  z.object({
    userId: z.uuid(),
    email: z.string(),
    emailVerified: z.boolean(),
    displayName: z.string(),
    /** Increases with every change of this user's contact; older versions are ignored. */
    version: z.number().int().nonnegative(),
    changedAt: z.iso.datetime(),
  }),
);

export const publishes = [UserRegistered, UserRolesChanged, WalletLinked, UserContactChanged];
