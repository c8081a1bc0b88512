import {
  jobsByKeys,
  renderEmail,
  SkipJobError,
  type Job,
  type JobHandler,
  type JobState,
  type Logger,
  type Mailer,
  type Persistence,
  type Session,
} from '@vibestream/platform';
import { z } from 'zod';
import type { DeliveryChannel } from './domain/channels.ts';
import { notificationEmail } from './domain/email.ts';
import { notificationKinds, renderNotification, type NotificationFacts } from './domain/notifications.ts';
import { signUnsubscribeToken } from './domain/unsubscribe-token.ts';
import * as store from './store.ts';

/**
 * Each (notification, channel) delivery is one durable job of the kernel's queue (platform/src/jobs),
 * keyed `<notificationId>:<CHANNEL>`: enqueued in the transaction that keeps the notification, so a
 * redelivered event (whose notification already exists) enqueues nothing, and run by the
 * context's job worker with retries and dead letters. Its job's state is the delivery's status.
 */
export const deliveryJobKinds: Record<DeliveryChannel, string> = { EMAIL: 'notification.email', PUSH: 'notification.push' };

export const DeliveryPayloadSchema = z.object({
  notificationId: z.uuid(),
  userId: z.uuid(),
  kind: z.enum(notificationKinds),
  channel: z.enum(['EMAIL', 'PUSH']),
});
export type DeliveryPayload = z.output<typeof DeliveryPayloadSchema>;

/** Sends one notification on one channel; throws SkipJobError (nothing to do), PermanentJobError (never) or anything else (retry). */
export type DeliveryHandler = (payload: DeliveryPayload, job: Job) => Promise<void>;

/** The channels this process can deliver on, each with its sender: the email sender here, PUSH's where the push work registers it. */
export type DeliveryHandlers = Partial<Record<DeliveryChannel, DeliveryHandler>>;

/** The channels that have a sender. */
export const deliveryChannelsOf = (handlers: DeliveryHandlers): DeliveryChannel[] =>
  (['EMAIL', 'PUSH'] as const).filter((channel) => handlers[channel] !== undefined);

export const deliveryJobKey = (notificationId: string, channel: DeliveryChannel) => `${notificationId.toLowerCase()}:${channel}`;

/** The job worker's handlers for the registered channels, each payload checked before its sender runs. */
export function deliveryJobHandlers(handlers: DeliveryHandlers): Record<string, JobHandler> {
  const out: Record<string, JobHandler> = {};
  for (const [channel, handler] of Object.entries(handlers) as [DeliveryChannel, DeliveryHandler][]) {
    out[deliveryJobKinds[channel]] = (payload: unknown, job: Job) => handler(DeliveryPayloadSchema.parse(payload), job);
  }
  return out;
}

/** Whether the user still wants `kind` on `channel` (a missing setting is on). */
export async function channelEnabled(db: Session, userId: string, kind: DeliveryPayload['kind'], channel: DeliveryChannel): Promise<boolean> {
  return (await store.channelSettingsOf(db, userId, kind)).get(channel) ?? true;
}

/** What a client sees of a delivery: its channel and status (a job being sent is still QUEUED), and a failure said plainly. */
export interface DeliveryModel {
  channel: DeliveryChannel;
  status: Exclude<JobState['status'], 'RUNNING'>;
  attempts: number;
  lastError: string | null;
  sentAt: Date | null;
}

/**
 * Failure texts a job records that are fit to show its user, each shown only as far as its pattern
 * reaches (no host, address or endpoint); anything else shows as "delivery failed".
 */
const shownErrors = [
  /^the mail server (refused the message|deferred the message) \(\d{3}\)/,
  /^the mail server (refused the address|refused the credentials|could not be reached)/,
  /^no verified email address$/,
  /^waiting for the user's email address$/,
  /^no email address arrived for the user$/,
  /^email is off for this kind$/,
  /^email is turned off on this server$/,
  /^the notification is gone$/,
  /^the notification no longer exists$/,
  /^push is off for this kind$/,
  /^the user has no push subscription$/,
  /^every push subscription was gone$/,
  /^no push service took the message \(\d+ refused it\)/,
  /^push to \d+ of \d+ subscriptions failed for now/,
];

export function deliveryModel(job: JobState, channel: DeliveryChannel): DeliveryModel {
  const error = job.lastError;
  const shown = error === null ? null : shownErrors.map((pattern) => pattern.exec(error)?.[0]).find((text) => text !== undefined);
  const lastError = error === null ? null : (shown ?? 'delivery failed');
  return {
    channel,
    // RUNNING is still on its way; FAILED (retrying) is shown as such.
    status: job.status === 'RUNNING' ? 'QUEUED' : job.status,
    attempts: job.attempts,
    lastError,
    sentAt: job.status === 'SENT' ? job.finishedAt : null,
  };
}

/** The deliveries of these notifications, by notification id (channels in EMAIL, PUSH order). */
export async function deliveriesOf(db: Session, notificationIds: readonly string[]): Promise<Map<string, DeliveryModel[]>> {
  const keys = notificationIds.flatMap((id) => (['EMAIL', 'PUSH'] as const).map((channel) => deliveryJobKey(id, channel)));
  const jobs = await jobsByKeys(db, keys);
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  return new Map(
    notificationIds.map((id) => [
      id,
      (['EMAIL', 'PUSH'] as const).flatMap((channel) => {
        const job = byKey.get(deliveryJobKey(id, channel));
        return job ? [deliveryModel(job, channel)] : [];
      }),
    ]),
  );
}

export interface EmailDeliveryDeps {
  db: Persistence;
  mailer: Mailer;
  log: Logger;
  /** The web app's address (links in the email). */
  webUrl: string;
  /** The gateway's public address (the one-click unsubscribe endpoint). */
  apiUrl: string;
  unsubscribeSecret: string;
  rewardToken: { decimals: number; symbol: string | null };
  /** How long a job waits for its user's contact to be projected (default EMAIL_CONTACT_WAIT_MS). */
  contactWaitMs?: number;
}

/**
 * How long an EMAIL job whose user has no contact projected yet (identity.user.contact_changed.v1
 * not handled here yet: events of different contexts arrive in any order) keeps retrying, with the
 * delivery jobs' backoff, before it is SKIPPED: 10 minutes, about the jobs' 8 attempts. The
 * contact's commit makes the job due at once (handlers.ts). A known but unverified address is
 * skipped at once: verifying is the user's own later act, not a message in flight.
 */
export const EMAIL_CONTACT_WAIT_MS = 600_000;

/**
 * The EMAIL sender: the notification rendered as the web app renders it, to the user's address only
 * when identity says it is verified, and only while the kind's email is still on.
 */
export function emailDelivery(deps: EmailDeliveryDeps): DeliveryHandler {
  const contactWaitMs = deps.contactWaitMs ?? EMAIL_CONTACT_WAIT_MS;
  return async (payload, job) => {
    const db = deps.db.reader();
    const notification = await store.notificationForDelivery(db, payload.notificationId);
    if (!notification || notification.user_id !== payload.userId.toLowerCase()) throw new SkipJobError('the notification is gone');
    if (!(await channelEnabled(db, notification.user_id, notification.kind, 'EMAIL'))) throw new SkipJobError('email is off for this kind');
    const contact = await store.contactOf(db, notification.user_id);
    if (!contact) {
      // Not known yet: retried (a transient failure) until the contact arrives or the wait is over.
      if (job.lastAttempt || Date.now() - job.createdAt.getTime() >= contactWaitMs) throw new SkipJobError('no email address arrived for the user');
      throw new Error("waiting for the user's email address");
    }
    if (!contact.email_verified) throw new SkipJobError('no verified email address');
    const songTitle = notification.song_id ? ((await store.songTitles(db, [notification.song_id])).get(notification.song_id) ?? null) : null;
    const rendered = renderNotification({ ...notification.data, kind: notification.kind } as NotificationFacts, { songTitle, rewardToken: deps.rewardToken });
    const unsubscribeToken = await signUnsubscribeToken(deps.unsubscribeSecret, { userId: notification.user_id, kind: notification.kind });
    const email = notificationEmail({
      kind: notification.kind,
      rendered,
      displayName: contact.display_name,
      webUrl: deps.webUrl,
      apiUrl: deps.apiUrl,
      unsubscribeToken,
    });
    const { html, text } = await renderEmail(email.content);
    await deps.mailer.send({ to: contact.email, subject: email.subject, html, text, headers: email.headers });
    deps.log.debug({ notificationId: notification.id, kind: notification.kind }, 'notification emailed');
  };
}
