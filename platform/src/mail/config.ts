import { developmentConfigShape, env, z } from '../config.ts';

const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);

/** The mail settings a context that sends email spreads into its configuration shape. */
export const mailConfigShape = {
  SMTP_URL: z
    .preprocess(
      emptyAsUndefined,
      z
        .url()
        .refine((value) => /^smtps?:\/\//.test(value), 'must be an smtp:// or smtps:// URL (smtp://user:password@host:587)')
        .optional(),
    )
    .describe(
      'SMTP server that sends email: smtp://user:password@host:587 (STARTTLS when the server offers it) or smtps://user:password@host:465 (TLS). Required in production unless MAIL_ENABLED=false. Unset in development: every message is written to VIBESTREAM_DATA_DIR/mail/*.eml instead, and its subject and links are logged.',
    ),
  MAIL_FROM: z
    .preprocess(emptyAsUndefined, z.string().trim().min(3).max(200).default('VibeStream <no-reply@vibestream.localhost>'))
    .describe('The From of every email ("Name <address>").'),
  MAIL_ENABLED: env
    .bool(true)
    .describe(
      'false: no email is sent at all (notification emails are not queued; identity mails fail). With true (the default) production requires SMTP_URL.',
    ),
  PUBLIC_WEB_URL: env
    .optionalUrl()
    .describe(
      "Where the web app is, for links in emails (/notifications, /unsubscribe, /verify-email ...). Default: PUBLIC_URL (the gateway's public address).",
    ),
  VIBESTREAM_DATA_DIR: developmentConfigShape.VIBESTREAM_DATA_DIR,
};

export type MailConfig = z.infer<z.ZodObject<typeof mailConfigShape>> & {
  NODE_ENV: 'development' | 'production' | 'test';
  /** The gateway's public address (a context's own setting), the default of PUBLIC_WEB_URL. */
  PUBLIC_URL?: string | undefined;
};

/** The web app's base URL for links in emails, without a trailing slash. */
export function mailWebUrl(config: Pick<MailConfig, 'PUBLIC_WEB_URL' | 'PUBLIC_URL'>): string {
  return (config.PUBLIC_WEB_URL ?? config.PUBLIC_URL ?? 'http://localhost:4000').replace(/\/+$/, '');
}
