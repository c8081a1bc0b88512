// Notification email end to end through the gateway: identity (real registration and email
// verification, whose identity.user.contact_changed.v1 events notifications projects) and
// notifications on one stack, a real SMTP server (testkit's mail catcher) receiving both contexts'
// mails. The test follows the links the mails contain: identity's verification link, then the
// notification mail's unsubscribe link (unsubscribeEmail without signing in) and its RFC 8058
// one-click List-Unsubscribe (POST through the gateway).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCode,
  eventually,
  publishEvent,
  startMailCatcher,
  startTestStack,
  type GraphQLResult,
  type MailCatcher,
  type TestStack,
} from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { OrderFilled, RevenuePaid } from '@vibestream/contracts/ownership';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { notificationsSubgraph } from '../src/index.ts';

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken user { id email } } }`;
const REQUEST_VERIFICATION = `mutation RequestEmailVerification { requestEmailVerification }`;
const VERIFY = `mutation VerifyEmail($token: String!) { verifyEmail(token: $token) { id emailVerified } }`;
const UNSUBSCRIBE = `mutation UnsubscribeEmail($token: String!) { unsubscribeEmail(token: $token) }`;
const CHANNELS = `query MyNotificationChannels { me { notificationChannels { kind channel enabled } } }`;
const UPDATE_CHANNELS = `mutation UpdateNotificationChannels($input: [NotificationChannelPreferenceInput!]!) {
  updateNotificationChannels(input: $input) { kind channel enabled }
}`;
const DELIVERIES = `query { me { notifications(first: 20) { edges { node { kind deliveries { channel status attempts lastError sentAt } } } } } }`;

let catcher: MailCatcher;
let stack: TestStack;

beforeAll(async () => {
  catcher = await startMailCatcher();
  stack = await startTestStack('notif-email', [identitySubgraph, notificationsSubgraph], {
    SMTP_URL: catcher.smtpUrl,
    MAIL_FROM: 'VibeStream <no-reply@vibestream.test>',
    EMAIL_UNSUBSCRIBE_SECRET: 'e2e-unsubscribe-secret-0123456789abcdef',
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await catcher?.close();
});

const ok = <T>(res: GraphQLResult<T>): T => {
  expect(res.errors).toBeUndefined();
  return res.data!;
};
const mailsTo = (address: string) => catcher.messages().filter((m) => m.to.includes(address.toLowerCase()));
type Channel = { kind: string; channel: string; enabled: boolean };

async function contact(userId: string) {
  const found = await stack.db.query<{ email: string; email_verified: boolean; display_name: string; version: number }>(
    'select email, email_verified, display_name, version from notifications.user_contacts where user_id = $1',
    [userId],
  );
  return found.rows[0];
}

/** POSTs as a mail client does for RFC 8058 one-click: the form body, no cookies, no authorization. */
const oneClick = (url: string, body = 'List-Unsubscribe=One-Click') =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' });

describe('notification email through the gateway', () => {
  const email = `listener-${Date.now().toString(36)}@example.com`;
  let userId: string;
  let token: string;

  it("registration and verification reach notifications' contact projection", async () => {
    const session = ok(
      await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(REGISTER, {
        input: { email, password: 'a-long-password', displayName: 'Nia Listener' },
      }),
    );
    userId = session.register.user.id;
    token = session.register.accessToken;
    const registered = await eventually(
      () => contact(userId),
      (c) => c !== undefined,
      15_000,
    );
    expect(registered).toMatchObject({ email, email_verified: false, display_name: 'Nia Listener' });

    ok(await stack.gql(REQUEST_VERIFICATION, {}, { token }));
    const mail = await catcher.waitForMail({ to: email, subject: 'Verify your email' });
    const link = mail.links.find((l) => l.includes('/verify-email?token='))!;
    ok(await stack.gql(VERIFY, { token: new URL(link).searchParams.get('token') }));
    const verified = await eventually(
      () => contact(userId),
      (c) => c?.email_verified === true,
      15_000,
    );
    expect(verified!.version).toBeGreaterThan(registered!.version);
  });

  it('an event delivered three times makes one email arrive, named, linked into the app, with one-click unsubscribe; its delivery shows SENT', async () => {
    await publishEvent(
      stack,
      DepositSucceeded,
      { depositId: randomUUID(), userId, amountCents: 4200, method: 'CARD', succeededAt: new Date().toISOString() },
      { times: 3 },
    );
    const mail = await catcher.waitForMail({ to: email, subject: 'Deposit received' });
    expect(mail.text).toContain('Hi Nia Listener,');
    expect(mail.text).toContain('$42.00 paid by card was added to your trading account.');
    expect(mail.links).toContain(`${stack.publicUrl}/notifications`);
    expect(mail.rawHeaders['list-unsubscribe']).toMatch(new RegExp(`^<${stack.publicUrl}/email/unsubscribe\\?token=[^>]+>$`));
    expect(mail.rawHeaders['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    const deliveries = await eventually(
      async () =>
        ok(
          await stack.gql<{ me: { notifications: { edges: { node: { kind: string; deliveries: { channel: string; status: string }[] } }[] } } }>(
            DELIVERIES,
            {},
            { token },
          ),
        ),
      (d) => d.me.notifications.edges.some((e) => e.node.deliveries.some((x) => x.channel === 'EMAIL' && x.status === 'SENT')),
    );
    const deposits = deliveries.me.notifications.edges.filter((e) => e.node.kind === 'DEPOSIT_SUCCEEDED');
    expect(deposits).toHaveLength(1);
    expect(deposits[0]!.node.deliveries.filter((d) => d.channel === 'EMAIL')).toMatchObject([{ status: 'SENT', attempts: 1, lastError: null }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(email).filter((m) => m.subject === 'Deposit received')).toHaveLength(1);
  });

  it("the mail's unsubscribe link works without signing in: that kind's email is off, another kind still mails", async () => {
    const mail = mailsTo(email).find((m) => m.subject === 'Deposit received')!;
    const page = mail.links.find((l) => l.startsWith(`${stack.publicUrl}/unsubscribe?token=`))!;
    expect(ok(await stack.gql(UNSUBSCRIBE, { token: new URL(page).searchParams.get('token') }))).toEqual({ unsubscribeEmail: true });
    const channels = ok(await stack.gql<{ me: { notificationChannels: Channel[] } }>(CHANNELS, {}, { token })).me.notificationChannels;
    expect(channels.filter((c) => !c.enabled)).toEqual([{ kind: 'DEPOSIT_SUCCEEDED', channel: 'EMAIL', enabled: false }]);

    await publishEvent(stack, DepositSucceeded, { depositId: randomUUID(), userId, amountCents: 100, method: 'CARD', succeededAt: new Date().toISOString() });
    await publishEvent(stack, OrderFilled, {
      orderId: randomUUID(),
      userId,
      songId: randomUUID(),
      side: 'BUY',
      quantity: 2,
      averagePriceCents: 300,
      orderQuantity: 2,
      filledQuantity: 2,
      fullyFilled: true,
    });
    await catcher.waitForMail({ to: email, subject: 'Buy order filled' });
    expect(mailsTo(email).filter((m) => m.subject === 'Deposit received')).toHaveLength(1);
  });

  it('the one-click POST to List-Unsubscribe, through the gateway, turns that kind off too', async () => {
    const mail = mailsTo(email).find((m) => m.subject === 'Buy order filled')!;
    const url = /^<([^>]+)>$/.exec(mail.rawHeaders['list-unsubscribe']!)![1]!;
    expect((await oneClick(url, 'wrong=body')).status).toBe(400);
    const response = await oneClick(url);
    expect(response.status).toBe(200);
    const channels = ok(await stack.gql<{ me: { notificationChannels: Channel[] } }>(CHANNELS, {}, { token })).me.notificationChannels;
    expect(
      channels
        .filter((c) => !c.enabled)
        .map((c) => c.kind)
        .sort(),
    ).toEqual(['DEPOSIT_SUCCEEDED', 'ORDER_FILLED']);

    await publishEvent(stack, OrderFilled, {
      orderId: randomUUID(),
      userId,
      songId: randomUUID(),
      side: 'SELL',
      quantity: 1,
      averagePriceCents: 300,
      orderQuantity: 1,
      filledQuantity: 1,
      fullyFilled: true,
    });
    await publishEvent(stack, RevenuePaid, { distributionId: randomUUID(), songId: randomUUID(), userId, amountCents: 512, shares: 4, periodLabel: '2026-11' });
    await catcher.waitForMail({ to: email, subject: 'Revenue paid' });
    expect(
      mailsTo(email)
        .map((m) => m.subject)
        .filter((s) => !s.startsWith('Verify your email')),
    ).toEqual(['Deposit received', 'Buy order filled', 'Revenue paid']);
  });

  it('turns a channel back on through updateNotificationChannels; a bad token or another call shape is refused', async () => {
    const back = ok(
      await stack.gql<{ updateNotificationChannels: Channel[] }>(
        UPDATE_CHANNELS,
        { input: [{ kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: true }] },
        { token },
      ),
    ).updateNotificationChannels;
    expect(back.filter((c) => !c.enabled)).toEqual([{ kind: 'DEPOSIT_SUCCEEDED', channel: 'EMAIL', enabled: false }]);
    expect(errorCode(await stack.gql(UNSUBSCRIBE, { token: 'eyJhbGciOiJub25lIn0.e30.' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(UPDATE_CHANNELS, { input: [] }))).toBe('UNAUTHENTICATED');
  });
});

describe('the gateway forwards /email/unsubscribe and nothing else of notifications', () => {
  it('a GET of the link is sent to the web page and changes nothing; bad tokens are 400', async () => {
    const get = await fetch(`${stack.publicUrl}/email/unsubscribe?token=abc.def.ghi`, { redirect: 'manual' });
    expect(get.status).toBe(303);
    expect(get.headers.get('location')).toBe(`${stack.publicUrl}/unsubscribe?token=abc.def.ghi`);
    expect((await oneClick(`${stack.publicUrl}/email/unsubscribe?token=abc.def.ghi`)).status).toBe(400);
    expect((await oneClick(`${stack.publicUrl}/email/unsubscribe`)).status).toBe(400);
    expect((await fetch(`${stack.publicUrl}/email/unsubscribe`, { method: 'PUT' })).status).toBe(405);
  });

  it("never reaches notifications' /graphql, /metrics, /readyz or /healthz under /email/", async () => {
    const introspect = JSON.stringify({ query: '{ _service { sdl } }' });
    for (const path of ['/email/graphql', '/email/metrics', '/email/readyz', '/email/healthz', '/email/unsubscribe/graphql', '/email/x']) {
      const res = await fetch(`${stack.publicUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: introspect });
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('_service');
    }
    for (const path of ['/email/unsubscribe/../graphql', '/email/%2e%2e/graphql', '/email/unsubscribe%2f..%2f..%2fgraphql', '/email/..%252fgraphql']) {
      const { port } = new URL(stack.publicUrl);
      const status = await new Promise<number>((resolve, reject) => {
        // node:http sends the path as it is (no dot-segment resolution), as curl --path-as-is does.
        import('node:http')
          .then(({ request }) => {
            const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
              res.resume();
              resolve(res.statusCode!);
            });
            req.on('error', reject);
            req.end(introspect);
          })
          .catch(reject);
      });
      expect(status, path).toBe(400);
    }
  });
});
