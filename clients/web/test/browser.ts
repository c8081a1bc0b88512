// What the web client's browser tests share: Debian's Chromium driven by playwright-core with the
// launch flags that work headless, as root, with no network (STACK.md), and the app's own sign-up.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SubgraphModule } from '@vibestream/platform';
import { startMailCatcher, startTestStack, type MailCatcher, type TestStack } from '@vibestream/testkit';
import { buildWebApp } from '../build.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The launch flags that work headless, as root, with no network (STACK.md). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--mute-audio',
];
export const PASSWORD = 'a-long-password';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** Signs up through the app's form (a fresh email from `name`) and waits until signed in; answers the email. */
export async function signUp(page: Page, name: string, role: 'fan' | 'artist') {
  const email = `${name.toLowerCase().replace(/\W+/g, '-')}-${randomBytes(4).toString('hex')}@example.com`;
  await page.goto('/');
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Display name').fill(name);
  await page
    .getByLabel(`an ${role}`)
    .or(page.getByLabel(`a ${role}`))
    .check();
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return email;
}

/** The signed-in person's access token and id, as the app keeps them. */
export async function sessionOf(page: Page): Promise<{ token: string; userId: string }> {
  const raw = await page.evaluate(() => localStorage.getItem('vibestream.session'));
  const token = (JSON.parse(raw!) as { accessToken: string }).accessToken;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string };
  return { token, userId: claims.sub };
}

/** A fresh page in a context of its own on the app at `baseURL` (30 s step timeout, page errors logged). */
export async function newPage(browser: Browser, baseURL: string): Promise<Page> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => console.error('page error:', error.message));
  return page;
}

/** The built app served by the gateway of a real stack whose mails go to a real SMTP server, and Chromium. */
export interface MailWebStack {
  stack: TestStack;
  catcher: MailCatcher;
  browser: Browser;
  /** A fresh page in a context of its own on the stack's app. */
  newPage(): Promise<Page>;
  /** Closes the browser, stops the stack and the mail catcher, and removes the work directory. */
  close(): Promise<void>;
}

/**
 * Builds the web app into a temporary directory, starts testkit's mail catcher and a stack (`web-<label>`)
 * of `modules` serving the app with its mails sent to the catcher (`env` added), and launches Chromium.
 */
export async function startMailWebStack(label: string, modules: SubgraphModule[], env: NodeJS.ProcessEnv = {}): Promise<MailWebStack> {
  const workDir = await mkdtemp(join(tmpdir(), `vs-${label}-`));
  let stack: TestStack | undefined;
  let catcher: MailCatcher | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await stack?.stop();
    await catcher?.close();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const dist = await buildWebApp(join(workDir, 'dist'), { quiet: true });
    catcher = await startMailCatcher();
    stack = await startTestStack(`web-${label}`, modules, {
      WEB_APP_DIR: dist,
      MEDIA_DIR: join(workDir, 'media'),
      SMTP_URL: catcher.smtpUrl,
      ...env,
    });
    browser = await launchChromium();
  } catch (error) {
    await close();
    throw error;
  }
  const started = { stack, catcher, browser };
  return { ...started, newPage: () => newPage(started.browser, started.stack.publicUrl), close };
}
