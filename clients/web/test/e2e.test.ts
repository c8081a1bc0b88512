// The web client end to end: the built app served by the gateway, driven in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) with real clicks and typing, against a
// real stack (identity, catalog, rewards, ownership, notifications on PostgreSQL and Redis), then
// once more against the README's default: `npm start` with an embedded PostgreSQL and the
// in-process event bus, where fans fund their accounts by card in the page (the local Stripe
// stand-in pays).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { TypedDocumentNode } from '@apollo/client';
import { newEnvelope } from '@vibestream/platform';
import { eventually, startTestStack, type GraphQLRequest } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { notificationsSubgraph } from '@vibestream/notifications';
import { makeWav } from '@vibestream/catalog/testing';
import { startNpmStart } from '@vibestream/testkit/npm-start';
import { PortfolioDocument, RewardPoolDocument, SongDetailsDocument } from '../../generated/graphql.ts';
import { documentIdOf } from '../src/graphql-http.ts';
import { buildWebApp, webRoot } from '../build.ts';
import { PASSWORD, launchChromium, sessionOf, signUp } from './browser.ts';

const SCREENSHOTS = join(webRoot, 'test-results');

/** What the app runs against, and how a person there funds their trading account. */
interface Backend {
  /** The gateway's public address, serving the app at /. */
  appUrl: string;
  gatewayUrl: string;
  gql: GraphQLRequest;
  fund(page: Page, amountCents: number): Promise<void>;
  stop(): Promise<void>;
}

let backend: Backend;
let browser: Browser;
let workDir: string;
let dist: string;
let appUrl: string;
const title = `Sine Dawn ${randomBytes(3).toString('hex')}`;
let songPath = '';

/** The app's settings on either backend. */
const appEnv = {
  // A two-second song counts as a whole listen, with a heartbeat every second.
  MIN_LISTEN_SECONDS: '1',
  HEARTBEAT_INTERVAL_SECONDS: '1',
  REWARD_PER_LISTEN: '5000000000000000000',
  // The app sends persisted document ids; a gateway that refuses anything else must serve it fully.
  PERSISTED_DOCUMENTS_ONLY: 'true',
};

async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Each person in their own browser context: their own localStorage and IndexedDB. */
async function person(): Promise<Page> {
  const context = await browser.newContext({ baseURL: appUrl, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => console.error('page error:', error.message));
  return page;
}

/** The test's own requests go by persisted document id too: the gateway here accepts nothing else. */
async function persisted<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, token?: string) {
  const response = await fetch(backend.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ documentId: documentIdOf(document), variables }),
  });
  return (await response.json()) as { data?: TData; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** A test stack of the five subgraphs the app uses, on PostgreSQL and Redis; deposits arrive as payments' event on the bus. */
async function testStack(): Promise<Backend> {
  const stack = await startTestStack('web', [identitySubgraph, catalogSubgraph, rewardsSubgraph, ownershipSubgraph, notificationsSubgraph], {
    WEB_APP_DIR: dist,
    MEDIA_DIR: join(workDir, 'media'),
    ...appEnv,
  });
  return {
    appUrl: stack.publicUrl,
    gatewayUrl: stack.gatewayUrl,
    gql: stack.gql,
    fund: async (page, amountCents) => {
      const { token, userId } = await sessionOf(page);
      const payload = { depositId: crypto.randomUUID(), userId, amountCents, method: 'CARD', succeededAt: new Date().toISOString() };
      await stack.infra.transport.append(newEnvelope('payments', 'payments.deposit.succeeded.v1', payload));
      const funded = await eventually(
        () => persisted(PortfolioDocument, {}, token),
        (r) => (r.data?.me?.tradingAccount?.cashCents ?? 0) >= amountCents,
        15_000,
      );
      expect(funded.data?.me?.tradingAccount?.cashCents).toBeGreaterThanOrEqual(amountCents);
    },
    stop: () => stack.stop(),
  };
}

/** `npm start` as the README says (embedded PostgreSQL, in-process bus); a fan pays by card in the page. */
async function readmeDefault(): Promise<Backend> {
  const app = await startNpmStart('web', { WEB_APP_DIR: dist, DEMO_SEED: 'off', ...appEnv });
  return {
    appUrl: app.publicUrl,
    gatewayUrl: app.gatewayUrl,
    gql: app.gql,
    fund: async (page, amountCents) => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Portfolio' }).click();
      const form = page.getByRole('form', { name: 'Add funds' });
      await form.getByLabel('Amount ($)').fill((amountCents / 100).toFixed(2));
      await form.getByRole('button', { name: 'Pay by card' }).click();
      await form.getByText('Card payment of').waitFor();
      await page
        .getByTestId('portfolio-cash')
        .getByText(`Cash $${(amountCents / 100).toFixed(2)} available`)
        .waitFor();
    },
    stop: () => app.stop(),
  };
}

async function placeOrder(page: Page, side: 'Buy' | 'Sell', quantity: number, price: string) {
  const form = page.getByRole('form', { name: 'Place an order' });
  await form.getByLabel('Side').selectOption({ label: side });
  await form.getByLabel('Type').selectOption({ label: 'Limit' });
  await form.getByLabel('Shares').fill(String(quantity));
  await form.getByLabel('Limit price ($ per share)').fill(price);
  await form.getByRole('button', { name: 'Place order' }).click();
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'vs-web-'));
  await mkdir(SCREENSHOTS, { recursive: true });
  dist = await buildWebApp(join(workDir, 'dist'), { quiet: true });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rm(workDir, { recursive: true, force: true });
});

const backends = [
  { name: 'a test stack (PostgreSQL, Redis)', start: testStack, prefix: '', everything: true },
  // The flows that cross contexts; the session and token handling does not depend on the backend.
  { name: 'the README default (npm start: embedded PostgreSQL, in-process bus)', start: readmeDefault, prefix: 'readme-', everything: false },
];

// A browser, a proof and several services per test: generous limits for a busy 2-core CI machine.
describe.each(backends)('the web client in a real browser, against $name', { timeout: 180_000 }, ({ start, prefix, everything }) => {
  beforeAll(async () => {
    backend = await start();
    appUrl = backend.appUrl;
    songPath = '';
  }, 300_000);

  afterAll(async () => {
    await backend?.stop();
  });

  const shot = (page: Page, name: string) => screenshot(page, `${prefix}${name}`);

  it('the gateway serves the app at / and its routes, with hashed assets cached for good, while the API keeps working', async () => {
    const index = await fetch(`${appUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await index.text();
    expect(html).toContain('<div id="root">');
    const deep = await fetch(`${appUrl}/songs/some-id/market`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${appUrl}${script}`);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${appUrl}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${appUrl}/../package.json`)).status).not.toBe(200);
    expect((await fetch(`${appUrl}/healthz`)).status).toBe(200);
    // This gateway accepts only persisted documents (as the app sends them): ids work, other text is refused.
    expect((await persisted(RewardPoolDocument, {})).data?.rewardPool.minListenSeconds).toBe(1);
    const text = await backend.gql('{ rewardPool { minListenSeconds } }');
    expect(text.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('an artist signs up, uploads a generated audio file, publishes it and opens an offering', async () => {
    const artist = await person();
    await artist.goto('/signup');
    // A password the contract refuses is explained next to its field.
    await artist.getByLabel('Password').fill('short');
    await artist.getByRole('button', { name: 'Sign up' }).click();
    await artist.getByText('Use at least 10 characters.').waitFor();
    await signUp(artist, 'Wave Maker', 'artist');

    await artist.getByLabel('Artist name').fill('The Sine Waves');
    await artist.getByRole('button', { name: 'Create profile' }).click();
    const upload = artist.getByRole('form', { name: 'New song' });
    await upload.getByLabel('Title').fill(title);
    await upload.getByLabel('Genre').fill('Electronic');
    await upload.getByLabel('Audio file').setInputFiles({ name: 'sine.wav', mimeType: 'audio/wav', buffer: makeWav(2, 8000) });
    await upload.getByRole('button', { name: 'Upload and publish' }).click();
    await artist.getByText(`“${title}” is published (2 s).`).waitFor();
    await shot(artist, '01-artist-published');

    const offering = artist.getByRole('form', { name: 'Open an offering' });
    await offering.getByLabel('Shares').fill('1000');
    await offering.getByLabel('Price per share ($)').fill('1.00');
    // Ownership learns the song from catalog's event; until then the form says it is not listed yet.
    for (let attempt = 0; attempt < 20; attempt++) {
      await offering.getByRole('button', { name: 'Open offering' }).click();
      const outcome = await Promise.race([
        artist
          .getByTestId('offering')
          .waitFor({ timeout: 10_000 })
          .then(
            () => 'open',
            () => 'timeout',
          ),
        offering
          .getByText('The market is still listing this song')
          .waitFor({ timeout: 10_000 })
          .then(
            () => 'not listed',
            () => 'timeout',
          ),
      ]);
      if (outcome === 'open') break;
      await artist.waitForTimeout(500);
    }
    expect(await artist.getByTestId('offering').textContent()).toContain('1000 of 1000 shares left at $1.00');
    songPath = (await artist.getByRole('link', { name: title }).getAttribute('href'))!;
    expect(songPath).toMatch(/^\/songs\//);
    await shot(artist, '02-artist-offering');
    await artist.context().close();
  });

  it('a fan finds the song, plays it to completion through HLS (key included), and claims the reward with a proof made in the page', async () => {
    // Catalog transcodes the song in the background: the player streams HLS once it is READY.
    const songId = songPath.split('/').pop()!;
    const ready = await eventually(
      () => persisted(SongDetailsDocument, { id: songId }),
      (r) => r.data?.song?.stream?.status === 'READY',
      60_000,
    );
    expect(ready.data?.song?.stream?.status).toBe('READY');
    const fan = await person();
    const hlsResponses: { path: string; status: number }[] = [];
    fan.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path.startsWith('/media/hls/')) hlsResponses.push({ path, status: response.status() });
    });
    await signUp(fan, 'Listening Fan', 'fan');
    await fan.getByLabel('Search songs').fill(title.split(' ').slice(0, 2).join(' '));
    await fan.getByRole('button', { name: 'Search' }).click();
    await fan.getByRole('list', { name: 'Search results' }).getByRole('link', { name: title }).click();
    await fan.getByRole('heading', { name: title }).waitFor();
    await shot(fan, '03-song-page');

    await fan.getByRole('button', { name: 'Play' }).click();
    // Playback runs in real time in headless Chromium; a loaded machine stretches it, so the bound is generous,
    // and a failure keeps a screenshot and says what the page showed.
    await fan
      .getByText('you earned a reward voucher')
      .waitFor({ timeout: 90_000 })
      .catch(async (error: unknown) => {
        await shot(fan, '04-listen-not-rewarded');
        throw new Error(`no reward voucher; the page said: ${(await fan.locator('main').innerText()).slice(0, 600)}`, { cause: error });
      });
    await shot(fan, '04-listen-rewarded');
    // It played the FREE plan's renditions through hls.js: the master, a playlist, the key and segments, all answered.
    expect(await fan.getByTestId('stream-source').textContent()).toContain('Adaptive stream (HLS), up to 128 kbps');
    expect(hlsResponses.some((r) => r.path.endsWith('/master.m3u8'))).toBe(true);
    expect(hlsResponses.some((r) => r.path.endsWith('/key'))).toBe(true);
    expect(hlsResponses.some((r) => r.path.endsWith('.ts'))).toBe(true);
    expect(hlsResponses.filter((r) => r.status !== 200)).toEqual([]);
    expect(hlsResponses.some((r) => /\/(256|320)\//.test(r.path))).toBe(false);

    await fan.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Rewards' }).click();
    const voucher = fan.getByTestId('voucher').first();
    await voucher.getByText('5 reward tokens').waitFor();
    // A malformed wallet is explained next to the field; nothing is proven or sent.
    await voucher.getByLabel('Wallet address (Ethereum)').fill('0x1234');
    await voucher.getByRole('button', { name: 'Claim reward' }).click();
    await voucher.getByText('Enter an Ethereum address').waitFor();

    // The claim and its Merkle path go without the access token: nothing links the wallet to the listener.
    const claimRequests: { operation: string; authorization: string | undefined }[] = [];
    fan.on('request', (request) => {
      const operation = /"operationName":"(\w+)"/.exec(request.postData() ?? '')?.[1];
      if (operation === 'ClaimListenReward' || operation === 'RewardMerklePath')
        claimRequests.push({ operation, authorization: request.headers().authorization });
    });
    const wallet = `0x${randomBytes(20).toString('hex')}`;
    await voucher.getByLabel('Wallet address (Ethereum)').fill(wallet);
    await voucher.getByRole('button', { name: 'Claim reward' }).click();
    await voucher.getByTestId('proof-progress').waitFor();
    await shot(fan, '05-proving');
    const status = voucher.getByTestId('claim-status');
    await status.waitFor({ timeout: 90_000 });
    expect(await status.textContent()).toContain(`Claim CREDITED`);
    expect((await status.textContent())!.toLowerCase()).toContain(wallet.toLowerCase());
    await shot(fan, '06-claimed');
    expect(claimRequests.map((r) => r.operation).sort()).toEqual(['ClaimListenReward', 'RewardMerklePath']);
    expect(claimRequests.every((r) => r.authorization === undefined)).toBe(true);

    // The secrets stay in the browser: after a reload the claimed voucher is still listed from IndexedDB.
    await fan.reload();
    await fan.getByTestId('claim-status').waitFor();
    await fan.context().close();
  }, 240_000);

  it('two fans trade shares and each sees the other’s trade appear live in the market, without reloading', async () => {
    const alice = await person();
    const bob = await person();
    await signUp(alice, 'Alice Trader', 'fan');
    await signUp(bob, 'Bob Trader', 'fan');
    await backend.fund(alice, 10_000);
    await backend.fund(bob, 10_000);

    await alice.goto(`${songPath}/market`);
    await bob.goto(`${songPath}/market`);
    await alice.getByTestId('account').getByText('Cash $100.00 available').waitFor();
    // The deposit is Alice's first notification.
    await alice.getByTestId('unread-badge').getByText('1', { exact: true }).waitFor();

    // Alice buys from the artist's offering.
    const buy = alice.getByRole('form', { name: 'Buy from the offering' });
    await buy.getByLabel('Shares to buy').fill('10');
    await buy.getByRole('button', { name: 'Buy shares' }).click();
    await buy.getByText('Bought 10 shares for $10.00.').waitFor();

    // Both pages are live before anyone trades.
    await alice.getByTestId('live').waitFor();
    await bob.getByTestId('live').waitFor();
    await alice.waitForTimeout(300);

    // Alice offers 4 shares at $1.50: Bob's book shows the ask live.
    await placeOrder(alice, 'Sell', 4, '1.50');
    await bob.getByTestId('asks').getByRole('row', { name: '$1.50 4' }).waitFor();

    // Bob asks for more than he can pay for: told so next to the quantity.
    await placeOrder(bob, 'Buy', 100_000, '1.50');
    await bob.getByText('You do not have enough available cash for this order.').waitFor();

    // Bob buys them: the trade appears on Alice's page without a reload.
    await placeOrder(bob, 'Buy', 4, '1.50');
    await alice
      .getByTestId('trades')
      .getByRole('row', { name: /\$1\.50 4$/ })
      .waitFor();
    await bob
      .getByTestId('trades')
      .getByRole('row', { name: /\$1\.50 4$/ })
      .waitFor();
    await alice.getByTestId('asks').getByRole('row').first().waitFor({ state: 'detached' });
    // Her filled order is a notification, pushed live: the unread badge counts it without a reload.
    await alice.getByTestId('unread-badge').getByText('2', { exact: true }).waitFor();
    await shot(alice, '07-market-alice-sees-bobs-trade');

    // And back: Bob sells 2 at $1.75, Alice takes them; Bob sees Alice's trade live.
    await bob.getByTestId('account').getByText('you hold 4 shares').waitFor();
    await placeOrder(bob, 'Sell', 2, '1.75');
    await alice.getByTestId('asks').getByRole('row', { name: '$1.75 2' }).waitFor();
    await placeOrder(alice, 'Buy', 2, '1.75');
    await bob
      .getByTestId('trades')
      .getByRole('row', { name: /\$1\.75 2$/ })
      .waitFor();
    await shot(bob, '08-market-bob-sees-alices-trade');

    // A resting order can be cancelled from the market page.
    await placeOrder(alice, 'Buy', 1, '0.50');
    const mine = alice.getByTestId('open-orders');
    await mine.getByText('Buy 1 of 1 at $0.50').waitFor();
    await mine.getByRole('button', { name: 'Cancel' }).click();
    await mine.getByText('Buy 1 of 1 at $0.50').waitFor({ state: 'detached' });

    await alice.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Portfolio' }).click();
    await alice
      .getByRole('table', { name: 'Holdings' })
      .getByRole('row', { name: new RegExp(`${title}.* 8 0`) })
      .waitFor();
    await shot(alice, '09-portfolio');

    await alice.getByRole('link', { name: /^Notifications/ }).click();
    const list = alice.getByTestId('notifications');
    await list.getByRole('listitem').nth(1).waitFor();
    await shot(alice, '10-notifications');
    await alice.getByRole('button', { name: 'Mark all as read' }).click();
    await alice.getByTestId('unread-badge').waitFor({ state: 'detached' });
  });

  it.runIf(everything)(
    'a person signs out and in, errors shown next to their fields; the auth link refreshes a token about to expire before sending, and refreshes and retries once when the gateway refuses one',
    async () => {
      const fan = await person();
      const email = await signUp(fan, 'Token Fan', 'fan');

      // Sign out and in again; the contract's errors land next to the field they concern.
      await fan.getByRole('button', { name: 'Sign out' }).click();
      await fan.getByRole('link', { name: 'Sign up' }).click();
      await fan.getByLabel('Email').fill(email.toUpperCase());
      await fan.getByLabel('Password').fill(PASSWORD);
      await fan.getByLabel('Display name').fill('Twin');
      await fan.getByRole('button', { name: 'Sign up' }).click();
      await fan
        .locator('.field', { has: fan.getByLabel('Email') })
        .getByText('An account with this email already exists')
        .waitFor();
      await fan.getByRole('link', { name: 'Sign in' }).last().click();
      await fan.getByLabel('Email').fill(email);
      await fan.getByLabel('Password').fill('not-the-password');
      await fan.getByRole('button', { name: 'Sign in', exact: true }).click();
      await fan
        .locator('.field', { has: fan.getByLabel('Password') })
        .getByText('That email and password do not match an account.')
        .waitFor();
      await shot(fan, '11-sign-in-error');
      await fan.getByLabel('Password').fill(PASSWORD);
      await fan.getByRole('button', { name: 'Sign in', exact: true }).click();
      await fan.getByRole('button', { name: 'Sign out' }).waitFor();

      const tamper = (exp: (current: number) => number) =>
        fan.evaluate(
          (shift) => {
            const stored = JSON.parse(localStorage.getItem('vibestream.session')!) as { accessToken: string; refreshToken: string };
            const [header, payload, signature] = stored.accessToken.split('.');
            const claims = JSON.parse(atob(payload!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp: number };
            claims.exp = shift === 'past' ? Math.floor(Date.now() / 1000) - 5 : claims.exp + 600;
            const forged = btoa(JSON.stringify(claims)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
            localStorage.setItem('vibestream.session', JSON.stringify({ ...stored, accessToken: `${header}.${forged}.${signature}` }));
            return stored.refreshToken;
          },
          exp(0) < 0 ? 'past' : 'future',
        );
      const statuses: number[] = [];
      fan.on('response', (response) => {
        if (response.url().endsWith('/graphql') && response.request().method() === 'POST') statuses.push(response.status());
      });
      const portfolioShown = () => fan.getByTestId('portfolio-cash').waitFor();
      const refreshTokenNow = () => fan.evaluate(() => (JSON.parse(localStorage.getItem('vibestream.session')!) as { refreshToken: string }).refreshToken);

      // An access token that expired: refreshed first, so the gateway never sees it.
      const before = await tamper(() => -1);
      await fan.goto('/portfolio');
      await portfolioShown();
      expect(await refreshTokenNow()).not.toBe(before);
      expect(statuses).not.toContain(401);

      // A token the gateway refuses although it looks valid (forged): HTTP 401, one refresh, one retry.
      // The page's WebSocket is held back here: with the forged token it would be refused too (4403)
      // and might refresh first, so the HTTP request would never carry the forged token.
      await fan.routeWebSocket(/\/graphql$/, () => undefined);
      statuses.length = 0;
      const second = await tamper(() => 1);
      await fan.goto('/portfolio');
      await portfolioShown();
      expect(statuses).toContain(401);
      expect(await refreshTokenNow()).not.toBe(second);
      expect(await fan.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
    },
  );
});
