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

export const publishes = [UserRegistered, UserRolesChanged, WalletLinked];
