// Email ownership and recovery in the web client: the built app served by the gateway of a real
// stack, in headless Chromium, with identity's mails received by a real SMTP server (testkit's mail
// catcher). A fan verifies their email from the account page and the mailed link, changes it, meets
// the verification limit, then signs out, uses "Forgot your password?" and the reset link, and is
// signed in with the new password.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { MailCatcher, TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { notificationsSubgraph } from '@vibestream/notifications';
import { PASSWORD, sessionOf, signUp, startMailWebStack, type MailWebStack } from './browser.ts';

let web: MailWebStack;
let stack: TestStack;
let catcher: MailCatcher;

beforeAll(async () => {
  web = await startMailWebStack('email', [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph, notificationsSubgraph]);
  ({ stack, catcher } = web);
}, 300_000);

afterAll(() => web?.close());

const person = (): Promise<Page> => web.newPage();

/** The link of a mail into the app's `page`, as the person would click it. */
async function mailedLink(to: string, subject: string, page: 'verify-email' | 'reset-password'): Promise<string> {
  const mail = await catcher.waitForMail({ to, subject }, 20_000);
  const link = mail.links.find((l) => l.startsWith(`${stack.publicUrl}/${page}?token=`));
  expect(link, `a ${page} link in "${subject}"`).toBeDefined();
  return link!;
}

describe('email ownership in the browser', { timeout: 180_000 }, () => {
  it('verify from the account page and the mailed link; change the email; the limit is explained; forgot password -> reset -> signed in', async () => {
    const page = await person();
    const email = await signUp(page, 'Mia Mail', 'fan');
    const section = page.getByRole('region', { name: 'Email address' });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    await section.getByTestId('email-status').getByText('Not verified').waitFor();
    await section.getByRole('button', { name: 'Send verification link' }).click();
    await section.getByText(`We sent a link to ${email}`).waitFor();

    // The link from the mail opens /verify-email and verifies without any further step.
    await page.goto(await mailedLink(email, 'Verify your email', 'verify-email'));
    await page.getByTestId('email-verified').waitFor();
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await section.getByTestId('email-status').getByText('Verified').waitFor();
    await expect(section.getByRole('button', { name: 'Send verification link' }).count()).resolves.toBe(0);

    // Change of email: unverified again; a notice to the old address, a link to the new one.
    const next = `mia-moved-${randomBytes(4).toString('hex')}@example.com`;
    const change = page.getByRole('form', { name: 'Change your email' });
    await change.getByLabel('New email').fill(next);
    await change.getByLabel('Current password').fill('not-my-password');
    await change.getByRole('button', { name: 'Change email' }).click();
    await change.getByText('currentPassword is not the account’s password').waitFor();
    await change.getByLabel('Current password').fill(PASSWORD);
    await change.getByRole('button', { name: 'Change email' }).click();
    await change.getByText(`Your email is now ${next}`).waitFor();
    await section.getByTestId('email-status').getByText('Not verified').waitFor();
    await catcher.waitForMail({ to: email, subject: 'Your email address was changed' });
    await catcher.waitForMail({ to: next, subject: 'Confirm your new email' });

    // Verification links: 3 an hour (one was asked for above); the refusal says when to try again.
    const send = section.getByRole('button', { name: 'Send verification link' });
    for (let i = 0; i < 2; i++) {
      await send.click();
      await section.getByText(`We sent a link to ${next}`).waitFor();
    }
    await send.click();
    await section.getByText(/Too many attempts\. Try again in \d+ s\./).waitFor();

    // Forgot the password: sign out, ask for a link, follow it, choose a new password, signed in.
    const before = await sessionOf(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    const forgot = page.getByRole('form', { name: 'Reset your password' });
    await forgot.getByLabel('Email').fill(next);
    await forgot.getByRole('button', { name: 'Send the link' }).click();
    await forgot.getByTestId('reset-requested').waitFor();

    await page.goto(await mailedLink(next, 'Reset your password', 'reset-password'));
    const choose = page.getByRole('form', { name: 'Choose a new password' });
    await choose.getByLabel('New password', { exact: true }).fill('short');
    await choose.getByLabel('Confirm the password').fill('short');
    await choose.getByRole('button', { name: 'Save and sign in' }).click();
    await choose.getByText('Use at least 10 characters.').waitFor();
    await choose.getByLabel('New password', { exact: true }).fill('a-brand-new-password');
    await choose.getByLabel('Confirm the password').fill('a-brand-new-password');
    await choose.getByRole('button', { name: 'Save and sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    const after = await sessionOf(page);
    expect(after.userId).toBe(before.userId);
    expect(after.token).not.toBe(before.token);
    // The session from before the reset no longer works; the new one does.
    const me = (token: string) => stack.gql<{ me: { id: string } | null }>('{ me { id } }', {}, { token });
    expect((await me(before.token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await me(after.token)).data?.me?.id).toBe(after.userId);

    // The same link again is refused, and the page says so.
    await page.goto(await mailedLink(next, 'Reset your password', 'reset-password'));
    await choose.getByLabel('New password', { exact: true }).fill('yet-another-password');
    await choose.getByLabel('Confirm the password').fill('yet-another-password');
    await choose.getByRole('button', { name: 'Save and sign in' }).click();
    await choose.getByText('This link is invalid, was already used or has expired.').waitFor();
  });
});
