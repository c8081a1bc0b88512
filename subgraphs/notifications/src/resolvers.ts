import {
  DateTimeScalar,
  forbidden,
  idOrNull,
  isSelfOrAdmin,
  keyOnlyReference,
  pageSize,
  parseId,
  parseIds,
  requireAuth,
  type BaseRequestContext,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import { renderNotification, type RenderedNotification } from './domain/notifications.ts';
import type { Loaders } from './loaders.ts';
import { factsOf, type NotificationRow, type NotificationsService } from './service.ts';
import { PushSubscriptions } from './push.ts';

export interface NotificationsContext extends BaseRequestContext {
  loaders: Loaders;
  service: NotificationsService;
  /** Web Push subscriptions' use cases and the VAPID public key. */
  push: PushSubscriptions;
  rewardToken: { decimals: number; symbol: string | null };
}

/** An entity other subgraphs own, known here by its key. */
export interface EntityRef {
  id: string;
}

/** A person's notifications are theirs (or an ADMIN's) to read, whatever path reaches their User. */
function ownData(ctx: NotificationsContext, userId: string): void {
  if (!isSelfOrAdmin(ctx.principal, userId)) throw forbidden('Notifications belong to their user');
}

async function rendered(row: NotificationRow, ctx: NotificationsContext): Promise<RenderedNotification> {
  const songTitle = row.song_id ? await ctx.loaders.songTitle.load(row.song_id) : null;
  return renderNotification(factsOf(row), { songTitle, rewardToken: ctx.rewardToken });
}

export const resolvers: Resolvers<NotificationsContext> = {
  DateTime: DateTimeScalar,
  Query: {
    notification: async (_root, { id }, ctx) => {
      const p = requireAuth(ctx.principal);
      const notificationId = idOrNull(id);
      const row = notificationId === null ? null : await ctx.loaders.notification.load(notificationId);
      return row && isSelfOrAdmin(p, row.user_id) ? row : null;
    },
    webPushPublicKey: (_root, _args, ctx) => ctx.push.publicKey,
  },
  Mutation: {
    markNotificationsRead: (_root, { ids }, ctx) => ctx.service.markRead(ctx.principal, parseIds(ids, 'ids')),
    markAllNotificationsRead: (_root, _args, ctx) => ctx.service.markAllRead(ctx.principal),
    updateNotificationPreferences: (_root, { input }, ctx) => ctx.service.updatePreferences(ctx.principal, input),
    registerPushSubscription: (_root, { input }, ctx) => ctx.push.register(ctx.principal, input),
    removePushSubscription: (_root, { id }, ctx) => ctx.push.remove(ctx.principal, parseId(id, 'id')),
    updateNotificationChannels: (_root, { input }, ctx) => ctx.service.updateChannels(ctx.principal, input),
    unsubscribeEmail: (_root, { token }, ctx) => ctx.service.unsubscribeEmail(token),
  },
  Notification: {
    title: async (row, _args, ctx) => (await rendered(row, ctx)).title,
    body: async (row, _args, ctx) => (await rendered(row, ctx)).body,
    createdAt: (row) => row.created_at,
    readAt: (row) => row.read_at,
    song: (row) => (row.song_id ? { id: row.song_id } : null),
    deliveries: (row, _args, ctx) => ctx.loaders.deliveries.load(row.id),
  },
  User: {
    __resolveReference: keyOnlyReference,
    notifications: (user, { first, after, unreadOnly }, ctx) => {
      ownData(ctx, user.id);
      return ctx.loaders.page.load({ userId: user.id, first: pageSize(first), after: after ?? null, unreadOnly: unreadOnly ?? false });
    },
    unreadNotificationCount: (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.loaders.unreadCount.load(user.id);
    },
    notificationPreferences: (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.loaders.preferences.load(user.id);
    },
    notificationChannels: (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.loaders.channels.load(user.id);
    },
    pushSubscriptions: (user, _args, ctx) => {
      PushSubscriptions.assertOwn(ctx.principal, user.id);
      return ctx.loaders.pushSubscriptions.load(user.id);
    },
  },
  PushSubscription: {
    endpointOrigin: (s) => s.endpoint_origin,
    createdAt: (s) => s.created_at,
  },
};
