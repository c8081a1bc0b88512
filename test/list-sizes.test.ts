// The sizes the supergraph declares for its lists (@listSize(assumedSize)) are the bounds the
// subgraphs keep: the gateway prices queries by them, so a declaration smaller than what a
// subgraph may answer would let a query's cost outrun its estimate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, isEnumType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { MAX_PAGE_SIZE, projectRoot, readCostDirectives } from '@vibestream/platform';
import { DEPTH } from '@vibestream/circuits';
import { MAX_ALBUM_SONGS } from '@vibestream/catalog/domain/songs.ts';
import { LADDER, WAVEFORM_PEAKS } from '@vibestream/catalog/domain/streaming.ts';
import { MAX_WALLETS_PER_USER } from '@vibestream/identity/domain/wallet.ts';
import { MAX_PASSKEYS_PER_USER } from '@vibestream/identity/domain/passkeys.ts';
import { MAX_OIDC_PROVIDERS } from '@vibestream/identity/domain/oidc.ts';
import { notificationKinds } from '@vibestream/notifications/domain/notifications.ts';
import { MAX_PUSH_SUBSCRIPTIONS_PER_USER } from '@vibestream/notifications/domain/push-subscription.ts';
import { deliveryChannels, MAX_CHANNEL_CHANGES, notificationChannels } from '@vibestream/notifications/domain/channels.ts';
import { MAX_TICKET_TYPES, MAX_TICKETS_PER_PURCHASE } from '@vibestream/loyalty/domain/sales.ts';
import { MAX_OFFLINE_CHECK_INS } from '@vibestream/loyalty/domain/admissions.ts';
import { entitlementKeys, plans } from '@vibestream/payments/domain/plans.ts';

const supergraph = readFileSync(join(projectRoot, 'schema/supergraph.graphql'), 'utf8');
const api = buildSchema(readFileSync(join(projectRoot, 'schema/api.graphql'), 'utf8'));
const { listSizes } = readCostDirectives(supergraph);
const enumSize = (name: string) => {
  const type = api.getType(name);
  if (!isEnumType(type)) throw new Error(`${name} is not an enum`);
  return type.getValues().length;
};

describe('declared list sizes', () => {
  it('are the bounds the subgraphs enforce or hold by construction', () => {
    const expected: Record<string, number> = {
      'Album.songs': MAX_ALBUM_SONGS,
      'AudioStream.renditions': LADDER.length,
      'AudioStream.waveform': WAVEFORM_PEAKS,
      'User.wallets': MAX_WALLETS_PER_USER,
      'User.passkeys': MAX_PASSKEYS_PER_USER,
      'User.linkedProviders': MAX_OIDC_PROVIDERS,
      'Query.signInProviders': MAX_OIDC_PROVIDERS,
      'User.roles': enumSize('Role'),
      'Query.plans': plans.length,
      'Plan.entitlements': entitlementKeys.length,
      'User.entitlements': entitlementKeys.length,
      'NotificationPreferences.kinds': notificationKinds.length,
      'User.pushSubscriptions': MAX_PUSH_SUBSCRIPTIONS_PER_USER,
      // Every kind on every channel; a notification's deliveries are one per delivery channel at most.
      'User.notificationChannels': MAX_CHANNEL_CHANGES,
      'Mutation.updateNotificationChannels': MAX_CHANNEL_CHANGES,
      'Notification.deliveries': deliveryChannels.length,
      'Event.ticketTypes': MAX_TICKET_TYPES,
      'TicketPurchase.tickets': MAX_TICKETS_PER_PURCHASE,
      'Mutation.syncOfflineCheckIns': MAX_OFFLINE_CHECK_INS,
      'MerklePath.pathElements': DEPTH,
      'MerklePath.pathIndices': DEPTH,
      // The gateway resolves each event with orderBook(songId), whose depth defaults to 10.
      'Subscription.orderBookUpdated': 10,
    };
    const declared = Object.fromEntries([...listSizes].filter(([, size]) => size.assumedSize !== undefined).map(([field, size]) => [field, size.assumedSize]));
    expect(declared).toEqual(expected);
    expect(notificationKinds.length).toBe(enumSize('NotificationKind'));
    expect(notificationChannels.length).toBe(enumSize('NotificationChannel'));
  });

  it('slice only by arguments whose default is within the cap every subgraph enforces on first', () => {
    for (const [field, size] of listSizes) {
      if (!size.slicingArguments) continue;
      const [typeName, fieldName] = field.split('.') as [string, string];
      const type = api.getType(typeName) as { getFields?: () => Record<string, { args: readonly { name: string; defaultValue: unknown }[] }> };
      for (const name of size.slicingArguments) {
        const argument = type.getFields!()[fieldName]!.args.find((a) => a.name === name)!;
        expect(argument.defaultValue, `${field}(${name})`).toBeGreaterThan(0);
        expect(argument.defaultValue, `${field}(${name})`).toBeLessThanOrEqual(MAX_PAGE_SIZE);
      }
    }
  });
});
