// Passkeys end to end: the built web app served by the gateway of a real stack, in headless
// Chromium with a CDP virtual authenticator (an internal, user-verifying CTAP2 authenticator that
// keeps resident keys). A fan adds a passkey on the account page, signs out, and signs in with it
// and no password (once naming their email, once letting the device offer it); the authenticator's
// signature counter goes up. Then, at the gateway, what an attacker could send instead.
//
// WebAuthn needs a secure context: the app is opened at http://localhost:<port> (127.0.0.1 is not
// a valid relying party id), with WEBAUTHN_RP_ID=localhost; outside production identity accepts
// loopback origins on any port.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { notificationsSubgraph } from '@vibestream/notifications';
import { buildWebApp } from '../build.ts';
import { launchChromium, sessionOf, signUp } from './browser.ts';

let stack: TestStack;
let browser: Browser;
let workDir: string;
let appUrl: string;

interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId: string;
  signCount: number;
  userHandle?: string;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'vs-passkeys-'));
  const dist = await buildWebApp(join(workDir, 'dist'), { quiet: true });
  stack = await startTestStack('passkeys', [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph, notificationsSubgraph], {
    WEB_APP_DIR: dist,
    MEDIA_DIR: join(workDir, 'media'),
    WEBAUTHN_RP_ID: 'localhost',
  });
  appUrl = stack.publicUrl.replace('//127.0.0.1:', '//localhost:');
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** A person in their own browser context, with a virtual platform authenticator attached over CDP. */
async function personWithAuthenticator(): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string }> {
  const context = await browser.newContext({ baseURL: appUrl, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => console.error('page error:', error.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  return { context, page, cdp, authenticatorId };
}

async function credentialsOf(cdp: CDPSession, authenticatorId: string): Promise<VirtualCredential[]> {
  return ((await cdp.send('WebAuthn.getCredentials', { authenticatorId })) as { credentials: VirtualCredential[] }).credentials;
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
}

/** A GraphQL request to the gateway, as any client could send it. */
async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const response = await fetch(`${appUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] },
  };
}

describe('passkeys in a real browser, through the gateway', { timeout: 180_000 }, () => {
  let userId = '';
  let credentialId = '';
  let email = '';
  let person: Awaited<ReturnType<typeof personWithAuthenticator>>;

  it('a fan adds a passkey on the account page with a virtual authenticator', async () => {
    person = await personWithAuthenticator();
    const { page, cdp, authenticatorId } = person;
    email = await signUp(page, 'Passkey Fan', 'fan');
    userId = (await sessionOf(page)).userId;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByText('No passkeys yet.').waitFor();
    await section.getByLabel('Passkey name').fill('  Test laptop  ');
    await section.getByRole('button', { name: 'Add a passkey' }).click();
    await section.getByText('Added “Test laptop”.').waitFor();
    await section.getByTestId('passkeys').getByText('Test laptop').waitFor();
    await section.getByText('never used').waitFor();

    const credentials = await credentialsOf(cdp, authenticatorId);
    expect(credentials).toHaveLength(1);
    expect(credentials[0]).toMatchObject({ rpId: 'localhost', isResidentCredential: true });
    // The user handle is the account's id (16 bytes), never the email.
    expect(Buffer.from(credentials[0]!.userHandle!, 'base64').toString('hex')).toBe(userId.replace(/-/g, ''));
    credentialId = Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url');
    const { rows } = await stack.db.query('select credential_id, name from identity.passkeys where user_id = $1', [userId]);
    expect(rows).toEqual([{ credential_id: credentialId, name: 'Test laptop' }]);

    // The same authenticator cannot register a second passkey for the account (excludeCredentials).
    await section.getByRole('button', { name: 'Add a passkey' }).click();
    await section.getByText('This device already holds a passkey for your account.').waitFor();
    expect(await credentialsOf(cdp, authenticatorId)).toHaveLength(1);
  });

  it('signs out, then signs in with the passkey and no password, naming the email and not', async () => {
    const { page, cdp, authenticatorId } = person;
    const before = (await credentialsOf(cdp, authenticatorId))[0]!.signCount;

    await signOut(page);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect((await sessionOf(page)).userId).toBe(userId);
    const afterFirst = (await credentialsOf(cdp, authenticatorId))[0]!.signCount;
    expect(afterFirst).toBeGreaterThan(before);

    // A discoverable credential: no email, the device offers the passkey it holds for this site.
    await signOut(page);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect((await sessionOf(page)).userId).toBe(userId);
    const afterSecond = (await credentialsOf(cdp, authenticatorId))[0]!.signCount;
    expect(afterSecond).toBeGreaterThan(afterFirst);

    // The signed-in state is real: the account page loads the caller's passkeys, now used.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByText(/last used/).waitFor();
    const { rows } = await stack.db.query('select counter from identity.passkeys where user_id = $1', [userId]);
    expect(Number(rows[0].counter)).toBe(afterSecond);
  });

  it('a device without the passkey cannot sign in; removing the passkey ends its use', async () => {
    const stranger = await personWithAuthenticator();
    await stranger.page.goto('/signin');
    await stranger.page.getByLabel('Email').fill(email);
    await stranger.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await stranger.page.getByText('The passkey request was cancelled or timed out.').waitFor({ timeout: 90_000 });
    expect(await stranger.page.evaluate(() => localStorage.getItem('vibestream.session'))).toBeNull();
    await stranger.context.close();

    const { page, cdp, authenticatorId } = person;
    const section = page.getByRole('region', { name: 'Passkeys' });
    await section.getByRole('button', { name: 'Remove Test laptop' }).click();
    await section.getByText('No passkeys yet.').waitFor();
    await signOut(page);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    // The authenticator still signs, but the server no longer knows the credential.
    await page.getByText('That passkey did not sign you in. Try again, or use your password.').waitFor();
    expect(await credentialsOf(cdp, authenticatorId)).toHaveLength(1);
    await person.context.close();
  });

  it('at the gateway: hostile input is a contract error, never a 500; a replayed challenge signs nobody in', async () => {
    const finish = `mutation($challengeId: ID!, $response: String!) { finishPasskeySignIn(challengeId: $challengeId, response: $response) { accessToken } }`;
    const start = await gql(`mutation { startPasskeySignIn(email: "nobody-${Date.now()}@example.com") { challengeId options } }`);
    const started = start.body.data!.startPasskeySignIn as { challengeId: string; options: string };
    expect(JSON.parse(started.options)).toMatchObject({ rpId: 'localhost', allowCredentials: [{ type: 'public-key' }] });

    const cases: [Record<string, unknown>, string][] = [
      [{ challengeId: 'not-an-id', response: '{}' }, 'BAD_USER_INPUT'],
      [{ challengeId: "1' or '1'='1", response: '{}' }, 'BAD_USER_INPUT'],
      [{ challengeId: started.challengeId, response: 'x'.repeat(200_000) }, 'BAD_USER_INPUT'],
      [{ challengeId: started.challengeId, response: '{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}' }, 'BAD_USER_INPUT'],
      [
        {
          challengeId: started.challengeId,
          response: JSON.stringify({
            id: credentialId,
            rawId: credentialId,
            type: 'public-key',
            response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' },
          }),
        },
        'UNAUTHENTICATED',
      ],
      // The challenge was spent by the attempt before, whatever its outcome.
      [
        {
          challengeId: started.challengeId,
          response: JSON.stringify({
            id: credentialId,
            rawId: credentialId,
            type: 'public-key',
            response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'AAAA' },
          }),
        },
        'UNAUTHENTICATED',
      ],
    ];
    for (const [variables, code] of cases) {
      const { status, body } = await gql(finish, variables);
      expect(status, JSON.stringify(variables).slice(0, 80)).toBeLessThan(500);
      expect(body.errors?.[0]?.extensions?.code, JSON.stringify(variables).slice(0, 80)).toBe(code);
    }

    // Registration needs a session; a signed-in caller's garbage is BAD_USER_INPUT.
    expect((await gql('mutation { startPasskeyRegistration }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const registered = await gql('mutation($input: RegisterInput!) { register(input: $input) { accessToken } }', {
      input: { email: `hostile-${Date.now()}@example.com`, password: 'a-long-password', displayName: 'Hostile' },
    });
    const token = (registered.body.data!.register as { accessToken: string }).accessToken;
    for (const response of ['', 'null', '[]', '{"type":"public-key"}', 'z'.repeat(100_000)]) {
      const { status, body } = await gql('mutation($r: String!) { finishPasskeyRegistration(response: $r) { id } }', { r: response }, token);
      expect(status).toBeLessThan(500);
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect((await gql('mutation { removePasskey(id: "nope") }', {}, token)).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // Another user's passkeys are not theirs to read, whatever path reaches their User (here the entity itself, at identity).
    const other = await stack.subgraph('identity')(
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id passkeys { id } } } }',
      { r: [{ __typename: 'User', id: userId }] },
      { token },
    );
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(other.data ?? {})).not.toContain('"passkeys":[');
  });
});
