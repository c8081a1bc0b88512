// Notification channels in the web client: the built app served by the gateway of a real stack,
// in headless Chromium, with the mails received by a real SMTP server (testkit's mail catcher). A
// fan verifies their email, turns one kind's email off in the account page's grid, gets the
// other kind by email, follows that email's unsubscribe link in a browser that is not signed in,
// and then sees both kinds' email off in the grid.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { eventually, publishEvent, type MailCatcher, type TestStack } from '@vibestream/testkit';
import { OrderFilled } from '@vibestream/contracts/ownership';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { notificationsSubgraph } from '@vibestream/notifications';
import { sessionOf, signUp, startMailWebStack, type MailWebStack } from './browser.ts';

let web: MailWebStack;
let stack: TestStack;
let catcher: MailCatcher;

beforeAll(async () => {
  web = await startMailWebStack('channels', [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph, notificationsSubgraph], {
    EMAIL_UNSUBSCRIBE_SECRET: 'web-channels-unsubscribe-secret-0123456789',
  });
  ({ stack, catcher } = web);
}, 300_000);

afterAll(() => web?.close());

const newPage = (): Promise<Page> => web.newPage();

const MY_CHANNELS = `query { me { notificationChannels { kind channel enabled } } }`;
type Channel = { kind: string; channel: string; enabled: boolean };

describe('notification channels in the browser', { timeout: 180_000 }, () => {
  it('the grid turns one kind’s email off; an email’s unsubscribe link turns another off without signing in', async () => {
    const page = await newPage();
    const email = await signUp(page, 'Chan Nel', 'fan');
    const { token, userId } = await sessionOf(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();

    // Verified, so email may go to the address.
    await page.getByRole('region', { name: 'Email address' }).getByRole('button', { name: 'Send verification link' }).click();
    const verification = await catcher.waitForMail({ to: email, subject: 'Verify your email' }, 20_000);
    await page.goto(verification.links.find((l) => l.includes('/verify-email?token='))!);
    await page.getByTestId('email-verified').waitFor();
    await eventually(
      async () => (await stack.db.query('select email_verified from notifications.user_contacts where user_id = $1', [userId])).rows[0]?.email_verified,
      (verified) => verified === true,
      15_000,
    );

    // The grid: every kind on every channel, all on; turn order fills' email off.
    await page.goto('/account');
    const grid = page.getByRole('region', { name: 'Notification channels' });
    const orderEmail = grid.getByRole('checkbox', { name: 'Order fills by email' });
    await orderEmail.waitFor();
    expect(await grid.getByRole('checkbox').count()).toBe(18);
    expect(await orderEmail.isChecked()).toBe(true);
    await orderEmail.uncheck();
    await eventually(
      async () => (await stack.gql<{ me: { notificationChannels: Channel[] } }>(MY_CHANNELS, {}, { token })).data?.me.notificationChannels ?? [],
      (channels) => channels.some((c) => c.kind === 'ORDER_FILLED' && c.channel === 'EMAIL' && !c.enabled),
    );

    // An order fill sends no email; a deposit does.
    await publishEvent(stack, OrderFilled, {
      orderId: randomUUID(),
      userId,
      songId: randomUUID(),
      side: 'BUY',
      quantity: 1,
      averagePriceCents: 100,
      orderQuantity: 1,
      filledQuantity: 1,
      fullyFilled: true,
    });
    await publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 2000, method: 'CARD', succeededAt: new Date().toISOString() });
    const deposit = await catcher.waitForMail({ to: email, subject: 'Deposit received' }, 20_000);
    expect(catcher.messages().filter((m) => m.to.includes(email) && m.subject.includes('order'))).toHaveLength(0);

    // The email's unsubscribe link, opened where nobody is signed in.
    const stranger = await newPage();
    await stranger.goto(deposit.links.find((l) => l.startsWith(`${stack.publicUrl}/unsubscribe?token=`))!);
    await stranger.getByTestId('confirm-unsubscribe').click();
    await stranger.getByTestId('unsubscribed').waitFor();
    // A tampered link is explained, not a crash.
    await stranger.goto('/unsubscribe?token=not-a-token');
    await stranger.getByTestId('confirm-unsubscribe').click();
    await stranger.getByText('This unsubscribe link is not valid').waitFor();

    await page.reload();
    await grid.getByRole('checkbox', { name: 'Deposits by email' }).waitFor();
    expect(await grid.getByRole('checkbox', { name: 'Deposits by email' }).isChecked()).toBe(false);
    expect(await grid.getByRole('checkbox', { name: 'Order fills by email' }).isChecked()).toBe(false);
    expect(await grid.getByRole('checkbox', { name: 'Deposits in the app' }).isChecked()).toBe(true);
  });
});
