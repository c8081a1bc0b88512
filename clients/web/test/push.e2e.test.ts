// Web Push in a real browser: the built app served by the gateway of a real stack, in headless
// Chromium. The account page registers the service worker the gateway serves at /sw.js (scope /);
// the account's subscribed browsers are listed with a remove button; and the very push message
// the server sent for a notification (taken from the local push service, which checked its VAPID
// JWT and decrypted it) is delivered into the app's service worker over CDP
// (ServiceWorker.deliverPushMessage), which shows it as a notification.
//
// Headless Chromium has no push service of its own: PushManager.subscribe is refused there
// ("Registration failed"), so the page's own subscribe step is checked to fail with a message a
// person can act on, and the subscription it would have registered comes from the local push
// service instead, registered with the same mutation the page sends.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { publishEvent, startPushService, startTestStack, type LocalPushService, type TestStack } from '@vibestream/testkit';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { notificationsSubgraph } from '@vibestream/notifications';
import { buildWebApp } from '../build.ts';
import { launchChromium, sessionOf, signUp } from './browser.ts';

let stack: TestStack;
let browser: Browser;
let push: LocalPushService;
let workDir: string;
let appUrl: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'vs-web-push-'));
  const dist = await buildWebApp(join(workDir, 'dist'), { quiet: true });
  push = await startPushService();
  stack = await startTestStack('web-push', [identitySubgraph, catalogSubgraph, notificationsSubgraph], {
    WEB_APP_DIR: dist,
    MEDIA_DIR: join(workDir, 'media'),
    // The development VAPID key (generated once into VIBESTREAM_DATA_DIR/keys), as `npm start` has it.
    VIBESTREAM_DATA_DIR: join(workDir, 'data'),
  });
  // A service worker needs a secure context: localhost is one, 127.0.0.1 over http is too, but one name is used throughout.
  appUrl = stack.publicUrl.replace('//127.0.0.1:', '//localhost:');
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await push?.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('push notifications in the browser', () => {
  it('registers the service worker, lists and removes subscriptions, and shows the push the server sent', async () => {
    const context = await browser.newContext({ baseURL: appUrl, viewport: { width: 1100, height: 900 } });
    await context.grantPermissions(['notifications'], { origin: appUrl });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => console.error('page error:', error.message));
    await signUp(page, 'Push Fan', 'fan');
    const { token, userId } = await sessionOf(page);

    await page.goto('/account');
    const section = page.getByRole('region', { name: 'Push notifications' });
    await section.getByText('No browser receives your push notifications.').waitFor();
    await section.getByRole('button', { name: 'Turn on for this browser' }).click();
    // Headless Chromium refuses to subscribe; the page says so, after registering the service worker.
    await section.getByText(/This browser could not subscribe/).waitFor();
    const worker = await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration('/');
      return { scope: registration?.scope, script: registration?.active?.scriptURL ?? registration?.installing?.scriptURL ?? registration?.waiting?.scriptURL };
    });
    expect(worker).toEqual({ scope: `${appUrl}/`, script: `${appUrl}/sw.js` });

    // The subscription a browser with a push service would have made with the server's key, registered as the page does.
    const gql = <T>(query: string, variables: Record<string, unknown> = {}) =>
      fetch(`${appUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      }).then((r) => r.json() as Promise<{ data?: T }>);
    const key = (await gql<{ webPushPublicKey: string }>('{ webPushPublicKey }')).data!.webPushPublicKey;
    const subscription = push.createSubscription({ applicationServerKey: key });
    const registered = await gql<{ registerPushSubscription: { id: string } }>(
      `mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }`,
      { input: { endpoint: subscription.endpoint, p256dh: subscription.p256dh, auth: subscription.auth } },
    );
    expect(registered.data?.registerPushSubscription.id).toBeTruthy();

    // A notification's push, as the push service received and decrypted it.
    await publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 1234, succeededAt: new Date().toISOString() });
    const message = await push.waitForPush(subscription.endpoint);
    const sent = JSON.parse(message.text) as { title: string; body: string; tag: string; url: string };
    expect(sent).toMatchObject({ title: 'Deposit received', body: '$12.34 was added to your trading account.' });

    // Delivered into the app's service worker, it becomes a notification with the notification's tag.
    const cdp = await context.newCDPSession(page);
    const registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (event) => registrations.push(...event.registrations));
    await cdp.send('ServiceWorker.enable');
    await expect.poll(() => registrations.find((r) => r.scopeURL === `${appUrl}/` && !r.isDeleted)).toBeTruthy();
    const { registrationId } = registrations.find((r) => r.scopeURL === `${appUrl}/` && !r.isDeleted)!;
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: appUrl, registrationId, data: message.text });
    await expect
      .poll(() =>
        page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }))),
      )
      .toEqual([{ title: sent.title, body: sent.body, tag: sent.tag }]);

    // The account page lists the subscribed browser (its push service's origin) and removes it.
    await page.reload();
    const item = section.getByTestId('push-subscriptions').getByRole('listitem');
    await expect.poll(() => item.count()).toBe(1);
    expect(await item.textContent()).toContain(`via ${push.url}`);
    await item.getByRole('button', { name: /^Remove the browser subscribed via/ }).click();
    await section.getByText('No browser receives your push notifications.').waitFor();
    await context.close();
  });
});
