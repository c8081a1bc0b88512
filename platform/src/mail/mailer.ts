import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { ConfigError } from '../config.ts';
import { PermanentJobError } from '../jobs/index.ts';
import type { Logger } from '../logger.ts';
import { dataDir } from '../runtime.ts';
import type { MailConfig } from './config.ts';

export interface MailMessage {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post ...). */
  headers?: Record<string, string>;
}

export interface Mailer {
  /** smtp: SMTP_URL; files: development without SMTP_URL (VIBESTREAM_DATA_DIR/mail); disabled: MAIL_ENABLED=false. */
  readonly mode: 'smtp' | 'files' | 'disabled';
  /**
   * Sends one message. A failure the SMTP server may get over (no connection, a dropped one, a
   * 4xx) throws a TransientMailError (a job retries it); one it will not (a 5xx, a refused
   * address, email disabled) a PermanentJobError. Messages name no host or credentials.
   */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** A failure worth retrying: the job queue retries any error that is not a PermanentJobError. */
export class TransientMailError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransientMailError';
  }
}

/** What an SMTP failure means for a retry: `permanent` for a 5xx reply or a refused envelope, `transient` otherwise. */
export function classifySmtpError(error: unknown): { kind: 'permanent' | 'transient'; message: string } {
  const e = (error ?? {}) as { responseCode?: unknown; code?: unknown };
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  if (responseCode !== undefined && responseCode >= 500) return { kind: 'permanent', message: `the mail server refused the message (${responseCode})` };
  if (responseCode !== undefined && responseCode >= 400) return { kind: 'transient', message: `the mail server deferred the message (${responseCode})` };
  if (e.code === 'EENVELOPE') return { kind: 'permanent', message: 'the mail server refused the address' };
  if (e.code === 'EAUTH') return { kind: 'permanent', message: 'the mail server refused the credentials' };
  return { kind: 'transient', message: 'the mail server could not be reached' };
}

/** The links (http and https) in a text, in order, each once. */
export function linksIn(text: string): string[] {
  return [...new Set(text.match(/https?:\/\/[^\s<>"')\]]+/g) ?? [])];
}

/**
 * The SMTP transport's options from an smtp:// or smtps:// URL: a pool of up to 3 connections, each
 * used for at most 100 messages and closed after 20 s idle (before its own 30 s socket timeout and
 * long before servers drop idle clients), so a message does not pay a connection and the server's
 * greeting each time. maxRequeues 0: a connection that drops under a message fails that message
 * (a TransientMailError the job queue retries) rather than the pool sending it again by itself.
 * An idle connection the server closes is dropped from the pool, the next message opens a new one.
 */
function smtpOptions(url: string) {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  return {
    pool: true as const,
    maxConnections: 3,
    maxMessages: 100,
    maxRequeues: 0,
    idleTimeout: 20_000,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  };
}

/**
 * The mailer of a context: SMTP (nodemailer) when SMTP_URL is set; in development without it, every
 * message goes to VIBESTREAM_DATA_DIR/mail/<time>-<id>.eml and its subject and links are logged.
 * Production requires SMTP_URL unless MAIL_ENABLED=false.
 */
export function createMailer(config: MailConfig, log: Logger): Mailer {
  const from = config.MAIL_FROM;
  if (!config.MAIL_ENABLED) {
    return {
      mode: 'disabled',
      send: async () => {
        throw new PermanentJobError('email is turned off on this server');
      },
      close: () => undefined,
    };
  }
  if (config.SMTP_URL) {
    const transport = nodemailer.createTransport(smtpOptions(config.SMTP_URL));
    return {
      mode: 'smtp',
      async send(message) {
        try {
          await transport.sendMail({ from, ...message });
        } catch (error) {
          const { kind, message: text } = classifySmtpError(error);
          log.warn(
            { kind, code: (error as { code?: unknown }).code, responseCode: (error as { responseCode?: unknown }).responseCode },
            'sending an email failed',
          );
          throw kind === 'permanent' ? new PermanentJobError(text, { cause: error }) : new TransientMailError(text, { cause: error });
        }
      },
      close: () => transport.close(),
    };
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError([{ variable: 'SMTP_URL', message: 'is required in production to send email (or set MAIL_ENABLED=false)' }]);
  }
  const dir = join(dataDir({ VIBESTREAM_DATA_DIR: config.VIBESTREAM_DATA_DIR }), 'mail');
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    mode: 'files',
    async send(message) {
      const info = await transport.sendMail({ from, ...message });
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.eml`);
      await writeFile(file, info.message as Buffer);
      log.info({ to: message.to, subject: message.subject, links: linksIn(message.text), file }, 'email written to the development mail folder (no SMTP_URL)');
    },
    close: () => transport.close(),
  };
}
