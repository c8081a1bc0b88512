import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifySmtpError,
  createLogger,
  createMailer,
  isConfigError,
  loadConfig,
  mailConfigShape,
  mailWebUrl,
  PermanentJobError,
  processConfigShape,
  renderEmail,
  TransientMailError,
  type MailConfig,
} from '@vibestream/platform';
import { startMailCatcher, type MailCatcher } from '@vibestream/testkit';

const log = createLogger('mail-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const configOf = (env: NodeJS.ProcessEnv): MailConfig => loadConfig({ NODE_ENV: processConfigShape.NODE_ENV, ...mailConfigShape }, env);

let catcher: MailCatcher;
beforeAll(async () => {
  catcher = await startMailCatcher();
});
afterAll(async () => {
  await catcher?.close();
});

describe('renderEmail', () => {
  it('renders HTML and text from one source, with the action link in both and the values escaped', async () => {
    const { html, text } = await renderEmail({
      preheader: 'Your order filled',
      heading: 'Hello <Ada>',
      paragraphs: ['Your buy order for 12 shares of <script>alert(1)</script> filled.', 'Second line.'],
      action: { label: 'Open VibeStream', url: 'https://vibe.test/notifications?a=1&b=2' },
      footer: 'You get this because you have a VibeStream account.',
      footerLink: { label: 'Unsubscribe', url: 'https://vibe.test/unsubscribe?token=abc' },
    });
    expect(html).toContain('Hello &lt;Ada&gt;');
    expect(html).not.toContain('<script>');
    expect(html).toContain('href="https://vibe.test/notifications?a=1&amp;b=2"');
    expect(html).toContain('https://vibe.test/unsubscribe?token=abc');
    expect(text).toContain('Second line.');
    expect(text).toContain('https://vibe.test/notifications?a=1&b=2');
    expect(text).toContain('https://vibe.test/unsubscribe?token=abc');
    expect(text).not.toMatch(/<(p|table|a|div|html)[ >]/i);
  });
});

describe('the mail configuration', () => {
  it('takes links from PUBLIC_WEB_URL, else PUBLIC_URL; refuses an SMTP_URL that is not smtp(s)', () => {
    expect(mailWebUrl({ PUBLIC_WEB_URL: 'https://app.vibe.test/', PUBLIC_URL: 'https://api.vibe.test' })).toBe('https://app.vibe.test');
    expect(mailWebUrl({ PUBLIC_WEB_URL: undefined, PUBLIC_URL: 'https://api.vibe.test' })).toBe('https://api.vibe.test');
    expect(() => configOf({ SMTP_URL: 'http://mail.test' })).toThrow(/SMTP_URL/);
  });

  it('requires SMTP_URL in production unless MAIL_ENABLED=false', () => {
    let thrown: unknown;
    try {
      createMailer(configOf({ NODE_ENV: 'production' }), log);
    } catch (error) {
      thrown = error;
    }
    expect(isConfigError(thrown)).toBe(true);
    expect(String(thrown)).toMatch(/SMTP_URL/);
    expect(createMailer(configOf({ NODE_ENV: 'production', MAIL_ENABLED: 'false' }), log).mode).toBe('disabled');
  });

  it('classifies SMTP failures: 5xx and refused envelopes permanent, 4xx and dropped connections transient', () => {
    expect(classifySmtpError({ responseCode: 550 }).kind).toBe('permanent');
    expect(classifySmtpError({ responseCode: 421 }).kind).toBe('transient');
    expect(classifySmtpError({ code: 'EENVELOPE' }).kind).toBe('permanent');
    expect(classifySmtpError({ code: 'ECONNECTION' }).kind).toBe('transient');
    expect(classifySmtpError(new Error('socket hang up')).kind).toBe('transient');
  });
});

describe('createMailer over SMTP (a real smtp-server)', () => {
  const message = (to: string) => ({
    to,
    subject: `Hello ${to}`,
    html: '<p>Hi <a href="https://vibe.test/notifications">open</a></p>',
    text: 'Hi https://vibe.test/notifications',
    headers: { 'List-Unsubscribe': '<https://vibe.test/email/unsubscribe?token=t1>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  });

  it('delivers a rendered message with its headers and links', async () => {
    const mailer = createMailer(configOf({ SMTP_URL: catcher.smtpUrl, MAIL_FROM: 'VibeStream <hello@vibe.test>' }), log);
    const { html, text } = await renderEmail({ heading: 'Hi', paragraphs: ['p'], action: { label: 'Go', url: 'https://vibe.test/go' } });
    await mailer.send({ ...message('ada@vibe.test'), html, text });
    const mail = await catcher.waitForMail({ to: 'ada@vibe.test' });
    expect(mail.from).toBe('hello@vibe.test');
    expect(mail.subject).toBe('Hello ada@vibe.test');
    expect(mail.rawHeaders['list-unsubscribe']).toBe('<https://vibe.test/email/unsubscribe?token=t1>');
    expect(mail.rawHeaders['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    expect(mail.links).toContain('https://vibe.test/go');
    expect(mail.text).toContain('https://vibe.test/go');
    mailer.close();
  });

  it('throws a PermanentJobError on a 5xx and a transient error on a dropped connection or a 4xx, naming no host', async () => {
    const mailer = createMailer(configOf({ SMTP_URL: catcher.smtpUrl }), log);
    catcher.failNext(550);
    const permanent = await mailer.send(message('refused@vibe.test')).catch((e: unknown) => e);
    expect(permanent).toBeInstanceOf(PermanentJobError);
    expect((permanent as Error).message).toBe('the mail server refused the message (550)');
    catcher.failNext('drop');
    const dropped = await mailer.send(message('dropped@vibe.test')).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(TransientMailError);
    expect((dropped as Error).message).not.toContain('127.0.0.1');
    catcher.failNext(451);
    expect(await mailer.send(message('later@vibe.test')).catch((e: unknown) => e)).toBeInstanceOf(TransientMailError);
    // Nothing arrived from the failed attempts; the next one goes through.
    await mailer.send(message('later@vibe.test'));
    await catcher.waitForMail({ to: 'later@vibe.test' });
    expect(catcher.messages().filter((m) => ['refused@vibe.test', 'dropped@vibe.test'].some((a) => m.to.includes(a)))).toHaveLength(0);
    mailer.close();
  });

  it('sends several messages over one pooled connection', async () => {
    const mailer = createMailer(configOf({ SMTP_URL: catcher.smtpUrl }), log);
    const before = catcher.connections();
    for (let i = 0; i < 5; i++) await mailer.send(message(`pooled${i}@vibe.test`));
    for (let i = 0; i < 5; i++) await catcher.waitForMail({ to: `pooled${i}@vibe.test` });
    expect(catcher.connections() - before).toBe(1);
    mailer.close();
  });

  it('does not lose the next message when the server closed the idle pooled connection', async () => {
    const mailer = createMailer(configOf({ SMTP_URL: catcher.smtpUrl }), log);
    const before = catcher.connections();
    await mailer.send(message('before-drop@vibe.test'));
    // Closed while idle, noticed by the pool before the next message: that one goes over a new connection.
    catcher.dropConnections();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await mailer.send(message('after-drop@vibe.test'));
    await catcher.waitForMail({ to: 'after-drop@vibe.test' });
    expect(catcher.connections() - before).toBe(2);
    // Closed just as the next message is handed to it: a TransientMailError at worst, which the job queue sends again.
    catcher.dropConnections();
    const raced = await mailer.send(message('raced@vibe.test')).catch((e: unknown) => e);
    if (raced !== undefined) {
      expect(raced).toBeInstanceOf(TransientMailError);
      await mailer.send(message('raced@vibe.test'));
    }
    await catcher.waitForMail({ to: 'raced@vibe.test' });
    expect(catcher.messages().filter((m) => m.to.includes('raced@vibe.test'))).toHaveLength(1);
    mailer.close();
  });

  it('a server that is not there is transient', async () => {
    const gone = await startMailCatcher();
    const url = gone.smtpUrl;
    await gone.close();
    const mailer = createMailer(configOf({ SMTP_URL: url }), log);
    expect(await mailer.send(message('nobody@vibe.test')).catch((e: unknown) => e)).toBeInstanceOf(TransientMailError);
  });
});

describe('createMailer in development without SMTP_URL', () => {
  it('writes each message to VIBESTREAM_DATA_DIR/mail as .eml', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vs-mail-'));
    try {
      const mailer = createMailer(configOf({ NODE_ENV: 'development', VIBESTREAM_DATA_DIR: dir }), log);
      expect(mailer.mode).toBe('files');
      await mailer.send({ to: 'dev@vibe.test', subject: 'Dev mail', html: '<p>x</p>', text: 'see https://vibe.test/x' });
      const files = await readdir(join(dir, 'mail'));
      expect(files).toHaveLength(1);
      const raw = await readFile(join(dir, 'mail', files[0]!), 'utf8');
      expect(raw).toContain('Subject: Dev mail');
      expect(raw).toContain('https://vibe.test/x');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
