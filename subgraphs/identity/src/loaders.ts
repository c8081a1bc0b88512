import DataLoader from 'dataloader';
import type { EntityManager } from '@vibestream/platform';
import { User, Wallet } from './entities.ts';
import { isUuid } from './service.ts';

/** Per-request loaders: one SQL statement per entity kind, whatever the number of keys. */
export function createLoaders(em: EntityManager) {
  return {
    user: new DataLoader<string, User | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const users = valid.length ? await em.find(User, { id: { $in: valid } }) : [];
      const byId = new Map(users.map((u) => [u.id, u]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    walletsByUser: new DataLoader<string, Wallet[]>(async (userIds) => {
      const wallets = await em.find(Wallet, { userId: { $in: [...userIds] } }, { orderBy: { linkedAt: 'asc' } });
      return userIds.map((id) => wallets.filter((w) => w.userId === id));
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
