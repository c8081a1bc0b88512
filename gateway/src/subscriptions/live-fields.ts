import { badInput, requireAuth, type Principal } from '@vibestream/platform';

/**
 * How each Subscription root field is served: the live-event topic a subscriber listens to,
 * and the Query field that reads one event's object back through the supergraph, so the
 * subscriber's selection can reach into any subgraph. Subgraphs publish keys and the event's
 * own scalars (see each subgraph's events.ts `liveTopics`).
 */
export interface LiveField {
  topic(args: Record<string, unknown>, principal: Principal | null): string;
  entry: { field: string; args(payload: Record<string, unknown>): Record<string, unknown> };
  /** Per-user data: a lookup is never shared between principals. */
  personal: boolean;
}

const stringArg = (args: Record<string, unknown>, name: string): string => {
  const value = args[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) throw badInput(`${name} is required`, name);
  return value;
};

export const liveFields: Record<string, LiveField> = {
  tradeExecuted: {
    topic: (args) => `tradeExecuted:${stringArg(args, 'songId')}`,
    entry: { field: 'trade', args: (payload) => ({ id: payload.id }) },
    personal: false,
  },
  orderBookUpdated: {
    topic: (args) => `orderBookUpdated:${stringArg(args, 'songId')}`,
    entry: { field: 'orderBook', args: (payload) => ({ songId: payload.songId }) },
    personal: false,
  },
  rewardVoucherIssued: {
    topic: (_args, principal) => `rewardVoucherIssued:${requireAuth(principal).userId}`,
    entry: { field: 'rewardVoucher', args: (payload) => ({ epoch: payload.epoch, leafIndex: payload.leafIndex }) },
    personal: true,
  },
  rewardClaimed: {
    topic: (args) => `rewardClaimed:${stringArg(args, 'recipient').toLowerCase()}`,
    entry: { field: 'rewardClaim', args: (payload) => ({ id: payload.id }) },
    personal: false,
  },
  notificationAdded: {
    topic: (_args, principal) => `notificationAdded:${requireAuth(principal).userId}`,
    entry: { field: 'notification', args: (payload) => ({ id: payload.id }) },
    personal: true,
  },
};
