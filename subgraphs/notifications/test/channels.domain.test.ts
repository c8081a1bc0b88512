import fc from 'fast-check';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { renderEmail, type JobState } from '@vibestream/platform';
import { deliveryModel } from '../src/deliveries.ts';
import {
  channelChangesProblem,
  channelGrid,
  notificationChannels,
  planDelivery,
  settingKey,
  type DeliveryChannel,
  type NotificationChannel,
} from '../src/domain/channels.ts';
import { greetingName, kindDescriptions, notificationEmail } from '../src/domain/email.ts';
import { notificationKinds, renderNotification, type NotificationKind } from '../src/domain/notifications.ts';
import { MAX_UNSUBSCRIBE_TOKEN_LENGTH, signUnsubscribeToken, verifyUnsubscribeToken } from '../src/domain/unsubscribe-token.ts';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const USER = '5b0a2f4e-8c1d-4e7a-9f3b-2d6c8e1a4b7f';

describe('channel resolution', () => {
  it('lists every kind on every channel, enabled unless changed', () => {
    const grid = channelGrid(new Map([[settingKey('ORDER_FILLED', 'EMAIL'), false]]));
    expect(grid).toHaveLength(notificationKinds.length * 3);
    expect(grid.filter((s) => !s.enabled)).toEqual([{ kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: false }]);
    expect(grid.slice(0, 3).map((s) => s.channel)).toEqual(['IN_APP', 'EMAIL', 'PUSH']);
  });

  it('keeps a notification when any channel wants it, lists it in the app only when IN_APP is on, and queues only channels with a sender', () => {
    const settings = fc.record({ inApp: fc.boolean(), email: fc.boolean(), push: fc.boolean() });
    const senders = fc.subarray<DeliveryChannel>(['EMAIL', 'PUSH']);
    fc.assert(
      fc.property(settings, senders, (s, available) => {
        const plan = planDelivery(s, new Set(available));
        expect(plan.inApp).toBe(s.inApp);
        expect(plan.deliver).toEqual((['EMAIL', 'PUSH'] as const).filter((c) => available.includes(c) && (c === 'EMAIL' ? s.email : s.push)));
        expect(plan.keep).toBe(s.inApp || plan.deliver.length > 0);
        // A channel turned off is never queued, whatever else holds.
        if (!s.email) expect(plan.deliver).not.toContain('EMAIL');
        if (!s.push) expect(plan.deliver).not.toContain('PUSH');
      }),
    );
  });

  it('nothing is kept when every channel is off, and PUSH is not queued without a sender', () => {
    expect(planDelivery({ inApp: false, email: false, push: false }, new Set(['EMAIL', 'PUSH']))).toEqual({ keep: false, inApp: false, deliver: [] });
    expect(planDelivery({ inApp: false, email: false, push: true }, new Set(['EMAIL']))).toEqual({ keep: false, inApp: false, deliver: [] });
    expect(planDelivery({ inApp: true, email: true, push: true }, new Set(['EMAIL']))).toEqual({ keep: true, inApp: true, deliver: ['EMAIL'] });
  });

  it('refuses a (kind, channel) named twice and more than every pair', () => {
    const pair = fc.record({ kind: fc.constantFrom(...notificationKinds), channel: fc.constantFrom(...notificationChannels) });
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 30 }), (changes) => {
        const distinct = new Set(changes.map((c) => settingKey(c.kind, c.channel))).size;
        const problem = channelChangesProblem(changes);
        expect(problem === null).toBe(distinct === changes.length && changes.length <= 18);
      }),
    );
    const all = notificationKinds.flatMap((kind) => notificationChannels.map((channel: NotificationChannel) => ({ kind, channel })));
    expect(channelChangesProblem(all)).toBeNull();
  });
});

describe('unsubscribe tokens', () => {
  it('verify to the user and kind they were signed for', async () => {
    for (const kind of notificationKinds) {
      const token = await signUnsubscribeToken(SECRET, { userId: USER, kind });
      expect(await verifyUnsubscribeToken(SECRET, token)).toEqual({ userId: USER, kind });
    }
  });

  it('refuse a tampered, truncated, foreign or oversized token', async () => {
    const token = await signUnsubscribeToken(SECRET, { userId: USER, kind: 'ORDER_FILLED' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherKind = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), kind: 'DEPOSIT_SUCCEEDED' })).toString(
      'base64url',
    );
    expect(await verifyUnsubscribeToken(SECRET, `${header}.${otherKind}.${signature}`)).toBeNull();
    expect(await verifyUnsubscribeToken(SECRET, token.slice(0, -2))).toBeNull();
    expect(await verifyUnsubscribeToken('another-secret-of-at-least-32-characters', token)).toBeNull();
    expect(await verifyUnsubscribeToken(SECRET, 'x'.repeat(MAX_UNSUBSCRIBE_TOKEN_LENGTH + 1))).toBeNull();
    expect(await verifyUnsubscribeToken(SECRET, '')).toBeNull();
    // alg none, and a token of another format version, signed with the right key.
    expect(await verifyUnsubscribeToken(SECRET, `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`)).toBeNull();
    const v2 = await new SignJWT({ v: 2, kind: 'ORDER_FILLED' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(USER)
      .setIssuer('vibestream-notifications')
      .setAudience('vibestream-email-unsubscribe')
      .sign(new TextEncoder().encode(SECRET));
    expect(await verifyUnsubscribeToken(SECRET, v2)).toBeNull();
  });

  it('refuse any random string', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 400 }), async (text) => {
        expect(await verifyUnsubscribeToken(SECRET, text)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});

describe('notification emails', () => {
  const rendered = renderNotification(
    { kind: 'DEPOSIT_SUCCEEDED', depositId: 'd1', amountCents: 2500, method: 'CARD' },
    { songTitle: null, rewardToken: { decimals: 18, symbol: null } },
  );
  const email = (displayName: string | null, kind: NotificationKind = 'DEPOSIT_SUCCEEDED') =>
    notificationEmail({ kind, rendered, displayName, webUrl: 'https://app.vibe.test', apiUrl: 'https://api.vibe.test', unsubscribeToken: 'tok/en+1' });

  it('render HTML and text from one template: the name, the body, the link into the app and the unsubscribe link in both', async () => {
    const mail = email('Ada <Lovelace>');
    expect(mail.subject).toBe('Deposit received');
    const { html, text } = await renderEmail(mail.content);
    for (const part of [html, text]) {
      expect(part).toContain('$25.00 paid by card was added to your trading account.');
      expect(part).toContain('https://app.vibe.test/notifications');
      expect(part).toContain('https://app.vibe.test/unsubscribe?token=tok%2Fen%2B1');
    }
    expect(text).toContain('Hi Ada <Lovelace>,');
    expect(html).toContain('Hi Ada &lt;Lovelace&gt;,');
    expect(html).not.toContain('<Lovelace>');
    expect(mail.headers).toEqual({
      'List-Unsubscribe': '<https://api.vibe.test/email/unsubscribe?token=tok%2Fen%2B1>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });

  it('greets without a name when there is none fit to show, and names each kind in the footer', () => {
    expect(email(null).content.paragraphs[0]).toBe('Hi,');
    expect(greetingName('  \u0000\u202e  ')).toBeNull();
    expect(greetingName('Grace\r\nBcc: x@y')).toBe('Grace Bcc: x@y');
    expect(greetingName('x'.repeat(200))).toHaveLength(80);
    for (const kind of notificationKinds) expect(email('A', kind).content.footer).toContain(kindDescriptions[kind]);
  });
});

describe('what a delivery shows of a failure', () => {
  const job = (lastError: string | null, status: JobState['status'] = 'FAILED'): JobState => ({
    key: 'k',
    kind: 'notification.email',
    status,
    attempts: 2,
    lastError,
    nextAttemptAt: new Date(),
    createdAt: new Date(),
    finishedAt: null,
  });

  it('shows the known failures only as far as they are safe, anything else as "delivery failed"', () => {
    expect(deliveryModel(job('the mail server refused the message (550)'), 'EMAIL').lastError).toBe('the mail server refused the message (550)');
    expect(deliveryModel(job('no verified email address', 'SKIPPED'), 'EMAIL').lastError).toBe('no verified email address');
    expect(
      deliveryModel(job('push to 1 of 2 subscriptions failed for now (fcm.example.com: 503; 10.0.0.7 resolves to a private address)'), 'PUSH').lastError,
    ).toBe('push to 1 of 2 subscriptions failed for now');
    expect(deliveryModel(job('connect ECONNREFUSED 10.1.2.3:25'), 'EMAIL').lastError).toBe('delivery failed');
    expect(deliveryModel(job(null, 'RUNNING'), 'EMAIL')).toMatchObject({ status: 'QUEUED', lastError: null, sentAt: null });
  });
});
