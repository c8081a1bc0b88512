import { useSyncExternalStore } from 'react';
import { currentSession, subscribeSession, type Session } from './session.ts';

export function useSession(): Session | null {
  return useSyncExternalStore(subscribeSession, currentSession);
}
