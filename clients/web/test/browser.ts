// What the web client's browser tests share: Debian's Chromium driven by playwright-core with the
// launch flags that work headless, as root, with no network (STACK.md), and the app's own sign-up.
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';

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
