import { notificationKinds, type NotificationKind } from './notifications.ts';

/** Where a notification reaches its user: the app (kept, listed, pushed live), email, Web Push. */
export const notificationChannels = ['IN_APP', 'EMAIL', 'PUSH'] as const;
export type NotificationChannel = (typeof notificationChannels)[number];
/** The channels a notification is delivered on by a job (IN_APP is the notification row itself). */
export type DeliveryChannel = Exclude<NotificationChannel, 'IN_APP'>;
export const deliveryChannels: readonly DeliveryChannel[] = ['EMAIL', 'PUSH'];

export interface ChannelSetting {
  kind: NotificationKind;
  channel: NotificationChannel;
  enabled: boolean;
}

/** The most entries one updateNotificationChannels takes: every kind on every channel. */
export const MAX_CHANNEL_CHANGES = notificationKinds.length * notificationChannels.length;

/** `<kind>:<channel>`, the key of one setting. */
export const settingKey = (kind: NotificationKind, channel: NotificationChannel) => `${kind}:${channel}`;

/**
 * Every kind on every channel (kinds in their order, channels IN_APP, EMAIL, PUSH), enabled unless
 * the user turned it off: `changed` holds only what the user set (IN_APP from the kind's preference).
 */
export function channelGrid(changed: ReadonlyMap<string, boolean>): ChannelSetting[] {
  return notificationKinds.flatMap((kind) =>
    notificationChannels.map((channel) => ({ kind, channel, enabled: changed.get(settingKey(kind, channel)) ?? true })),
  );
}

/** What becomes of one event's notification, given the user's settings for its kind. */
export interface DeliveryPlan {
  /** Keep the notification row: some channel wants it. */
  keep: boolean;
  /** Listed, counted and pushed live in the app. */
  inApp: boolean;
  /** The delivery jobs to enqueue, one per channel. */
  deliver: DeliveryChannel[];
}

/**
 * The channels one notification goes to: each enabled channel of its kind, the delivery channels
 * only where this process can send (a channel with no sender registered is not queued). Nothing
 * is kept when no channel wants it.
 */
export function planDelivery(settings: { inApp: boolean; email: boolean; push: boolean }, senders: ReadonlySet<DeliveryChannel>): DeliveryPlan {
  const deliver = deliveryChannels.filter((channel) => (channel === 'EMAIL' ? settings.email : settings.push) && senders.has(channel));
  return { keep: settings.inApp || deliver.length > 0, inApp: settings.inApp, deliver };
}

/** The problem with a list of channel changes (a pair named twice, too many), or null. */
export function channelChangesProblem(changes: readonly { kind: NotificationKind; channel: NotificationChannel }[]): string | null {
  if (changes.length > MAX_CHANNEL_CHANGES) return `input may list at most ${MAX_CHANNEL_CHANGES} settings`;
  const seen = new Set<string>();
  for (const { kind, channel } of changes) {
    const key = settingKey(kind, channel);
    if (seen.has(key)) return `input lists ${kind} on ${channel} more than once`;
    seen.add(key);
  }
  return null;
}
