import { ConfigError, env, loadConfig, mailConfigShape, subgraphConfigShape, z } from '@vibestream/platform';
import { webPushConfigProblems, webPushConfigShape } from './push-config.ts';

const optional = (v: unknown) => (v === '' ? undefined : v);

export const notificationsConfigShape = {
  ...subgraphConfigShape(4007),
  REWARD_TOKEN_DECIMALS: env.intRange(18, 0, 36).describe('Decimals of the reward token, to show voucher amounts (base units) as whole tokens ("0.01").'),
  REWARD_TOKEN_SYMBOL: z
    .preprocess(optional, z.string().trim().min(1).max(12).optional())
    .describe('The reward token\'s symbol in notification text (at most 12 characters). Default: "reward tokens".'),
  ...webPushConfigShape,
  // Email (src/deliveries.ts): SMTP_URL, MAIL_FROM, MAIL_ENABLED, PUBLIC_WEB_URL.
  ...mailConfigShape,
  PUBLIC_URL: z
    .preprocess(optional, z.url().default('http://localhost:4000'))
    .describe(
      "The gateway's public address: notification emails' one-click unsubscribe (List-Unsubscribe: PUBLIC_URL/email/unsubscribe), and where their links into the web app go unless PUBLIC_WEB_URL says otherwise.",
    ),
  EMAIL_UNSUBSCRIBE_SECRET: z
    .preprocess(optional, z.string().min(32, 'must be at least 32 characters').optional())
    .describe(
      'HMAC secret (at least 32 characters) that signs the unsubscribe links of notification emails; changing it voids the links of emails already sent. Required in production while email is on; otherwise generated once into VIBESTREAM_DATA_DIR/keys.',
    ),
};

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;

export function loadNotificationsConfig(source: NodeJS.ProcessEnv) {
  const config = loadConfig(notificationsConfigShape, source);
  const problems = [...webPushConfigProblems(config), ...emailConfigProblems(config)];
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Production sends email only with an SMTP server and a configured unsubscribe key (or with MAIL_ENABLED=false). */
function emailConfigProblems(config: {
  NODE_ENV: string;
  MAIL_ENABLED: boolean;
  SMTP_URL?: string | undefined;
  EMAIL_UNSUBSCRIBE_SECRET?: string | undefined;
}) {
  if (config.NODE_ENV !== 'production' || !config.MAIL_ENABLED) return [];
  return [
    ...(config.SMTP_URL ? [] : [{ variable: 'SMTP_URL', message: 'is required in production to send email (or set MAIL_ENABLED=false)' }]),
    ...(config.EMAIL_UNSUBSCRIBE_SECRET
      ? []
      : [{ variable: 'EMAIL_UNSUBSCRIBE_SECRET', message: 'is required in production to sign the unsubscribe links of emails (or set MAIL_ENABLED=false)' }]),
  ];
}
