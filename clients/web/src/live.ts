import { useEffect, useSyncExternalStore } from 'react';
import { useSubscription } from '@apollo/client/react';
import type { OperationVariables, TypedDocumentNode } from '@apollo/client';
import { liveConnection } from './apollo.ts';

/**
 * useSubscription that starts again after an error (the gateway ends a subscription when a
 * token it was opened with expires or the connection is refused; the next attempt connects
 * with a fresh token).
 */
export function useLive<TData, TVariables extends OperationVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  options: { variables: TVariables; skip?: boolean; onData?: (data: TData) => void },
) {
  // useSubscription's variadic signature does not resolve for generic variables; this is its options form.
  const subscribe = useSubscription as (
    doc: TypedDocumentNode<TData, TVariables>,
    options: useSubscription.Options<TData, TVariables>,
  ) => useSubscription.Result<TData>;
  const result = subscribe(document, {
    variables: options.variables,
    skip: options.skip ?? false,
    onData: ({ data }) => {
      if (data.data) options.onData?.(data.data);
    },
  });
  const { error, restart } = result;
  useEffect(() => {
    if (!error) return;
    const timer = setTimeout(restart, 2_000);
    return () => clearTimeout(timer);
  }, [error, restart]);
  return result;
}

/** True while the WebSocket that carries live data is connected. */
export function useLiveConnected(): boolean {
  return useSyncExternalStore(liveConnection.subscribe, liveConnection.connected);
}
