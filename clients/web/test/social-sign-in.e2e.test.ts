// Social sign-in end to end in a browser: the built web app served by the gateway of a real stack,
// a real OpenID provider (testkit's oidc-provider) on its own port, and headless Chromium. A person
// clicks the provider's button, logs in on the provider's page, comes back to /auth/callback and is
// signed in; the account page lists the provider. An unverified email that has an account shows the
// refusal on the callback page, and a callback this tab did not start is refused before any request.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, startTestOidcProvider, startTestStack, type TestOidcProvider, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { notificationsSubgraph } from '@vibestream/notifications';
import { buildWebApp } from '../build.ts';
import { PASSWORD, launchChromium, sessionOf, signUp } from './browser.ts';

let stack: TestStack;
let oidc: TestOidcProvider;
let browser: Browser;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'vs-social-'));
  const dist = await buildWebApp(join(workDir, 'dist'), { quiet: true });
  // The provider needs the app's redirect URI and the stack the provider's issuer: the provider's
  // port is chosen first (discovery happens at the first sign-in, after both are up).
  const providerPort = await freePort();
  stack = await startTestStack('social-web', [identitySubgraph, catalogSubgraph, notificationsSubgraph], {
    WEB_APP_DIR: dist,
    MEDIA_DIR: join(workDir, 'media'),
    OIDC_PROVIDERS: JSON.stringify([
      { id: 'testid', displayName: 'Test ID', issuer: `http://127.0.0.1:${providerPort}`, clientId: 'web', clientSecret: 'web-secret-0123456789' },
    ]),
  });
  oidc = await startTestOidcProvider({
    port: providerPort,
    clients: [{ clientId: 'web', clientSecret: 'web-secret-0123456789', redirectUris: [`${stack.publicUrl}/auth/callback`] }],
  });
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await oidc?.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function person(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: stack.publicUrl, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => console.error('page error:', error.message));
  return { context, page };
}

/** From the app's sign-in page, through the provider's login as `sub`, back to the app. */
async function signInWithProvider(page: Page, sub: string) {
  await page.goto('/signin');
  await page.getByRole('button', { name: 'Continue with Test ID' }).click();
  await page.waitForURL(`${oidc.issuer}/interaction/**`);
  await page.getByLabel('Account').fill(sub);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${stack.publicUrl}/**`);
}

describe('social sign-in in a real browser, through the gateway', { timeout: 180_000 }, () => {
  it('signs in with the provider, creating the account, and lists it on the account page', async () => {
    oidc.setAccount('web-ada', { email: 'web-ada@example.com', email_verified: true, name: 'Ada Web' });
    const { context, page } = await person();
    await signInWithProvider(page, 'web-ada');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // The code and state are gone from the address bar.
    expect(new URL(page.url()).search).toBe('');
    const { userId } = await sessionOf(page);
    const { rows } = await stack.db.query('select email, display_name from identity.users where id = $1', [userId]);
    expect(rows).toEqual([{ email: 'web-ada@example.com', display_name: 'Ada Web' }]);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    const section = page.getByRole('region', { name: 'Linked sign-in providers' });
    await section.getByText('Test ID').waitFor();
    await section.getByText(/linked /).waitFor();

    // Signing in again (a new browser) reaches the same account.
    await context.close();
    const again = await person();
    await signInWithProvider(again.page, 'web-ada');
    await again.page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect((await sessionOf(again.page)).userId).toBe(userId);
    await again.context.close();
  });

  it('shows the refusal when an unverified email has an account, and leaves it unlinked', async () => {
    const { context, page } = await person();
    const email = await signUp(page, 'Existing Fan', 'fan');
    const { userId } = await sessionOf(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    oidc.setAccount('web-mallory', { email, email_verified: false });
    await signInWithProvider(page, 'web-mallory');
    await page.getByText(/does not say the email is verified/).waitFor();
    await page.getByRole('link', { name: 'Sign in' }).first().waitFor();
    expect(await page.evaluate(() => localStorage.getItem('vibestream.session'))).toBeNull();
    const { rows } = await stack.db.query('select count(*)::int as n from identity.user_identities where user_id = $1', [userId]);
    expect(rows[0]).toEqual({ n: 0 });
    // The password still opens the account.
    await page.goto('/signin');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await context.close();
  });

  it('refuses a callback this tab did not start, without completing anything', async () => {
    const { context, page } = await person();
    const requests: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/graphql') && /completesocialsignin/i.test(request.postData() ?? '')) requests.push(request.url());
    });
    await page.goto('/auth/callback?code=stolen-code&state=someone-elses-state');
    await page.getByText('This sign-in was not started in this browser tab. Please start again.').waitFor();
    expect(requests).toEqual([]);
    await context.close();
  });
});
