import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { ClaimListenRewardMutation } from '../../../generated/graphql.ts';

/**
 * Voucher secrets live only in this browser (IndexedDB). Losing them loses the reward, so a
 * voucher is written before its listen is completed and removed only if the server rejects it.
 */
export interface StoredVoucher {
  commitment: string;
  nullifier: string;
  secret: string;
  /** The account that listened in this browser (the list shows each person their own). */
  userId: string;
  songId: string;
  songTitle: string;
  createdAt: string;
  /** pending: sent for completion, answer not yet seen. */
  state: 'pending' | 'issued' | 'claimed';
  epoch?: number;
  leafIndex?: number;
  amount?: string;
  claim?: ClaimListenRewardMutation['claimListenReward'];
}

interface VaultSchema extends DBSchema {
  vouchers: { key: string; value: StoredVoucher; indexes: { byUser: string } };
}

let database: Promise<IDBPDatabase<VaultSchema>> | null = null;
const listeners = new Set<() => void>();

function db(): Promise<IDBPDatabase<VaultSchema>> {
  database ??= openDB<VaultSchema>('vibestream-rewards', 1, {
    upgrade(upgrade) {
      const store = upgrade.createObjectStore('vouchers', { keyPath: 'commitment' });
      store.createIndex('byUser', 'userId');
    },
  });
  return database;
}

function changed() {
  for (const listener of listeners) listener();
}

export function onVaultChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function saveVoucher(voucher: StoredVoucher): Promise<void> {
  await (await db()).put('vouchers', voucher);
  changed();
}

export async function updateVoucher(commitment: string, patch: Partial<StoredVoucher>): Promise<void> {
  const store = await db();
  const tx = store.transaction('vouchers', 'readwrite');
  const current = await tx.store.get(commitment);
  if (current) await tx.store.put({ ...current, ...patch });
  await tx.done;
  changed();
}

export async function removeVoucher(commitment: string): Promise<void> {
  await (await db()).delete('vouchers', commitment);
  changed();
}

export async function vouchersOf(userId: string): Promise<StoredVoucher[]> {
  const all = await (await db()).getAllFromIndex('vouchers', 'byUser', userId);
  return all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
