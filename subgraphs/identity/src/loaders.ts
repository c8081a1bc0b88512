import DataLoader from 'dataloader';
import type { Session } from '@vibestream/platform';
import { isUuid } from './service.ts';
import * as store from './store.ts';
import type { Passkey, User, Wallet } from './store.ts';
import type { LinkedIdentity } from './store.ts';

/** Per-request loaders: one SQL statement per entity kind, whatever the number of keys. */
export function createLoaders(db: Session) {
  return {
    user: new DataLoader<string, User | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const users = valid.length ? await store.usersByIds(db, valid) : [];
      const byId = new Map(users.map((u) => [u.id, u]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    walletsByUser: new DataLoader<string, Wallet[]>(async (userIds) => {
      const valid = userIds.filter(isUuid);
      const wallets = valid.length ? await store.walletsOfUsers(db, valid) : [];
      return userIds.map((id) => wallets.filter((w) => w.userId === id));
    }),
    linkedProvidersByUser: new DataLoader<string, LinkedIdentity[]>(async (userIds) => {
      const valid = userIds.filter(isUuid);
      const linked = valid.length ? await store.identitiesOfUsers(db, valid) : [];
      return userIds.map((id) => linked.filter((l) => l.userId === id));
    }),
    passkeysByUser: new DataLoader<string, Passkey[]>(async (userIds) => {
      const valid = userIds.filter(isUuid);
      const passkeys = valid.length ? await store.passkeysOfUsers(db, valid) : [];
      return userIds.map((id) => passkeys.filter((p) => p.userId === id));
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
