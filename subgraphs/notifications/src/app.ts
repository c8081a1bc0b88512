import { createMailer, defineSubgraph, ensureDevSecret, mailWebUrl, startJobWorker } from '@vibestream/platform';
import { loadNotificationsConfig } from './config.ts';
import { notificationsHandlers } from './handlers.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type NotificationsContext } from './resolvers.ts';
import { NotificationsService } from './service.ts';
import { resolveVapidKeys } from './push-config.ts';
import { createPushSender, pushJobHandler, PushSubscriptions } from './push.ts';
import { deliveryChannelsOf, deliveryJobHandlers, emailDelivery, type DeliveryHandlers } from './deliveries.ts';
import { unsubscribeRoutes } from './unsubscribe-route.ts';

/** How the delivery jobs retry a transient failure (a job still failing after the last attempt is DEAD). */
export const deliveryRetries = {
  maxAttempts: 8,
  backoff: (attempt: number) => Math.min(5000 * 2 ** (attempt - 1), 600_000) * (0.75 + Math.random() * 0.5),
};

export const notificationsSubgraph = defineSubgraph({
  name: 'notifications',
  defaultPort: 4007,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadNotificationsConfig,
  database: { migrations },
  // Notifications only consume: each handled event is published live once its transaction commits.
  outbox: false,
  setup: async ({ persistence, config, log, infra, env }) => {
    const db = persistence;
    const rewardToken = { decimals: config.REWARD_TOKEN_DECIMALS, symbol: config.REWARD_TOKEN_SYMBOL ?? null };
    // Email: production needs SMTP_URL (or MAIL_ENABLED=false); development without it writes .eml files.
    const mailer = createMailer(config, log);
    // Production with email on requires EMAIL_UNSUBSCRIBE_SECRET (config.ts); development generates one once.
    const unsubscribeSecret =
      config.EMAIL_UNSUBSCRIBE_SECRET ?? (config.NODE_ENV !== 'production' ? await ensureDevSecret(env, 'email-unsubscribe', log) : undefined);
    const webUrl = mailWebUrl(config);
    // The sender of each delivery channel (src/deliveries.ts): a channel with none is never queued.
    const deliveryHandlers: DeliveryHandlers = {};
    if (mailer.mode !== 'disabled' && unsubscribeSecret) {
      deliveryHandlers.EMAIL = emailDelivery({ db, mailer, log, webUrl, apiUrl: config.PUBLIC_URL.replace(/\/+$/, ''), unsubscribeSecret, rewardToken });
    }
    // PUSH: Web Push (src/push.ts), signed with the VAPID keys (configured; generated once in development).
    const vapid = await resolveVapidKeys(config, env, log);
    deliveryHandlers.PUSH = pushJobHandler({
      db,
      sender: createPushSender(vapid, { timeoutMs: config.WEB_PUSH_TIMEOUT_MS, production: config.NODE_ENV === 'production' }),
      rewardToken,
      log,
    });
    const service = new NotificationsService({
      db,
      live: infra.live,
      log,
      senders: deliveryChannelsOf(deliveryHandlers),
      ...(unsubscribeSecret ? { unsubscribeSecret } : {}),
    });
    const push = new PushSubscriptions({ db, production: config.NODE_ENV === 'production', publicKey: vapid.publicKey });
    return {
      handlers: notificationsHandlers(db, service),
      afterCommit: (envelope) => service.published(envelope),
      context: ({ em: _em, ...base }): NotificationsContext => ({ ...base, service, push, rewardToken, loaders: createLoaders(db.reader()) }),
      routes: unsubscribeRoutes({ service, webUrl, log }),
      // Each (notification, channel) delivery job, woken by the commit that queued it.
      // A mail server or push service may be away for minutes: 8 attempts, 5 s doubling up to 10 min (about 10 min in all).
      background: () => startJobWorker(db, { handlers: deliveryJobHandlers(deliveryHandlers), log, ...deliveryRetries }),
      stop: async () => mailer.close(),
    };
  },
});
