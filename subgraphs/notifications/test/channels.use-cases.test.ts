// Channels and email deliveries on notifications' own schema: the contact projection and other
// contexts' events injected, the real job worker, and a real SMTP server (the mail catcher)
// receiving what the email sender sends. No gateway (notifications-email.e2e.test.ts has that).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMailer,
  jobsByKeys,
  loadConfig,
  mailConfigShape,
  MemoryLiveEvents,
  processConfigShape,
  startJobWorker,
  type JobWorker,
  type Principal,
} from '@vibestream/platform';
import { openContext, startMailCatcher, type CaughtMail, type ContextHarness, type MailCatcher } from '@vibestream/testkit';
import { UserContactChanged } from '@vibestream/contracts/identity';
import { OrderFilled } from '@vibestream/contracts/ownership';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { deliveryJobHandlers, deliveryJobKey, emailDelivery } from '../src/deliveries.ts';
import { signUnsubscribeToken } from '../src/domain/unsubscribe-token.ts';
import { notificationsHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { NotificationsService } from '../src/service.ts';
import { queryInProcess, user } from './helpers.ts';

const SECRET = 'use-case-unsubscribe-secret-0123456789';
const WEB = 'https://app.vibe.test';
const API = 'https://api.vibe.test';
/** How long an email job waits here for its user's contact (10 min in the subgraph). */
const CONTACT_WAIT_MS = 1200;
/** Two quick retries (a dropped connection), then 600 ms apart: a job waiting for a contact is not due again soon. */
const testBackoff = (attempt: number) => (attempt < 3 ? 20 : 600);

let h: ContextHarness;
let catcher: MailCatcher;
let service: NotificationsService;
let worker: JobWorker;

beforeAll(async () => {
  h = await openContext({ name: 'notifications', migrations });
  catcher = await startMailCatcher();
  const config = loadConfig(
    { NODE_ENV: processConfigShape.NODE_ENV, ...mailConfigShape },
    { SMTP_URL: catcher.smtpUrl, MAIL_FROM: 'VibeStream <hello@vibe.test>' },
  );
  const mailer = createMailer(config, h.log);
  const handlers = {
    EMAIL: emailDelivery({
      db: h.db,
      mailer,
      log: h.log,
      webUrl: WEB,
      apiUrl: API,
      unsubscribeSecret: SECRET,
      rewardToken: { decimals: 18, symbol: null },
      contactWaitMs: CONTACT_WAIT_MS,
    }),
  };
  service = new NotificationsService({ db: h.db, live: new MemoryLiveEvents(), log: h.log, senders: ['EMAIL'], unsubscribeSecret: SECRET });
  h.consume(notificationsHandlers(h.db, service));
  worker = startJobWorker(h.db, { handlers: deliveryJobHandlers(handlers), log: h.log, maxAttempts: 10, backoff: testBackoff, pollMs: 60_000 });
});

afterAll(async () => {
  await worker?.stop();
  await catcher?.close();
  await h?.close();
});

const principalOf = (userId: string): Principal => user(['FAN'], userId);
const query = <T>(principal: Principal | null, source: string, variables: Record<string, unknown> = {}) =>
  queryInProcess<T>({ h, service }, principal, source, variables);

interface Delivery {
  channel: string;
  status: string;
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
}
const MINE = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User {
  notifications(first: 50) { totalCount edges { node { id kind title deliveries { channel status attempts lastError sentAt } } } }
  notificationChannels { kind channel enabled }
  notificationPreferences { kinds { kind enabled } }
} } }`;
type Mine = {
  notifications: { totalCount: number; edges: { node: { id: string; kind: string; title: string; deliveries: Delivery[] } }[] };
  notificationChannels: { kind: string; channel: string; enabled: boolean }[];
  notificationPreferences: { kinds: { kind: string; enabled: boolean }[] };
};

async function mine(userId: string): Promise<Mine> {
  const result = await query<{ _entities: Mine[] }>(principalOf(userId), MINE, { representations: [{ __typename: 'User', id: userId }] });
  expect(result.errors).toBeUndefined();
  return result.data!._entities[0]!;
}

/** A user identity told notifications about: `verified` or not. */
async function person(name: string, verified = true, version = 1) {
  const userId = randomUUID();
  const email = `${name.toLowerCase()}-${userId.slice(0, 8)}@vibe.test`;
  await h.inject(UserContactChanged, { userId, email, emailVerified: verified, displayName: name, version, changedAt: new Date().toISOString() });
  return { userId, email, name };
}

const deposit = (userId: string, amountCents = 2500) => ({
  depositId: randomUUID(),
  userId,
  amountCents,
  method: 'CARD' as const,
  succeededAt: new Date().toISOString(),
});
const fill = (userId: string) => ({
  orderId: randomUUID(),
  userId,
  songId: randomUUID(),
  side: 'BUY' as const,
  quantity: 3,
  averagePriceCents: 150,
  orderQuantity: 3,
  filledQuantity: 3,
  fullyFilled: true,
});

/** The notification's job states once it is finished (SENT, DEAD or SKIPPED). */
async function settled(notificationId: string, timeoutMs = 10_000) {
  const start = Date.now();
  for (;;) {
    const jobs = await jobsByKeys(h.db.reader(), [deliveryJobKey(notificationId, 'EMAIL'), deliveryJobKey(notificationId, 'PUSH')]);
    if (jobs.every((j) => ['SENT', 'DEAD', 'SKIPPED'].includes(j.status)) || Date.now() - start > timeoutMs) return jobs;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function onlyNotification(userId: string, kind: string) {
  const found = (await mine(userId)).notifications.edges.filter((e) => e.node.kind === kind);
  expect(found).toHaveLength(1);
  return found[0]!.node;
}

const mailsTo = (address: string) => catcher.messages().filter((m) => m.to.includes(address));

const refusalCode = async (call: Promise<unknown>) =>
  call.then(
    () => null,
    (e: { extensions?: { code?: unknown } }) => e.extensions?.code,
  );

describe('email deliveries', () => {
  let ada: Awaited<ReturnType<typeof person>>;
  let adaMail: CaughtMail;

  it('a notification delivered three times queues one job and sends one email, with the name, the text and the links', async () => {
    ada = await person('Ada');
    await h.inject(DepositSucceeded, deposit(ada.userId), { times: 3 });
    const node = await onlyNotification(ada.userId, 'DEPOSIT_SUCCEEDED');
    const jobs = await settled(node.id);
    expect(jobs.map((j) => [j.key, j.status, j.attempts])).toEqual([[deliveryJobKey(node.id, 'EMAIL'), 'SENT', 1]]);
    adaMail = await catcher.waitForMail({ to: ada.email });
    // Give any second mail a chance to arrive before counting.
    await new Promise((r) => setTimeout(r, 200));
    expect(mailsTo(ada.email)).toHaveLength(1);
    expect(adaMail.subject).toBe('Deposit received');
    expect(adaMail.from).toBe('hello@vibe.test');
    expect(adaMail.text).toContain('Hi Ada,');
    expect(adaMail.text).toContain('$25.00 paid by card was added to your trading account.');
    expect(adaMail.html).toContain('$25.00 paid by card was added to your trading account.');
    expect(adaMail.links).toContain(`${WEB}/notifications`);
    expect(adaMail.links.some((l) => l.startsWith(`${WEB}/unsubscribe?token=`))).toBe(true);
    expect(adaMail.rawHeaders['list-unsubscribe']).toMatch(new RegExp(`^<${API}/email/unsubscribe\\?token=[^>]+>$`));
    expect(adaMail.rawHeaders['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    const delivery = (await onlyNotification(ada.userId, 'DEPOSIT_SUCCEEDED')).deliveries;
    expect(delivery).toMatchObject([{ channel: 'EMAIL', status: 'SENT', attempts: 1, lastError: null }]);
    expect(delivery[0]!.sentAt).not.toBeNull();
  });

  it('concurrent deliveries of one event still enqueue one job', async () => {
    const bo = await person('Bo');
    const event = deposit(bo.userId, 700);
    await Promise.all([h.inject(DepositSucceeded, event), h.inject(DepositSucceeded, event), h.inject(DepositSucceeded, event)]);
    const node = await onlyNotification(bo.userId, 'DEPOSIT_SUCCEEDED');
    expect(await settled(node.id)).toHaveLength(1);
    await catcher.waitForMail({ to: bo.email });
    await new Promise((r) => setTimeout(r, 200));
    expect(mailsTo(bo.email)).toHaveLength(1);
  });

  it("a kind's disabled EMAIL channel sends nothing, while another kind still mails", async () => {
    const cy = await person('Cy');
    const channels = await service.updateChannels(principalOf(cy.userId), [{ kind: 'DEPOSIT_SUCCEEDED', channel: 'EMAIL', enabled: false }]);
    expect(channels.find((c) => c.kind === 'DEPOSIT_SUCCEEDED' && c.channel === 'EMAIL')?.enabled).toBe(false);
    await h.inject(DepositSucceeded, deposit(cy.userId));
    await h.inject(OrderFilled, fill(cy.userId));
    await catcher.waitForMail({ to: cy.email, subject: 'Buy order filled' });
    const node = await onlyNotification(cy.userId, 'DEPOSIT_SUCCEEDED');
    // Kept in the app (IN_APP still on), no email queued.
    expect(node.deliveries).toEqual([]);
    expect(mailsTo(cy.email).map((m) => m.subject)).toEqual(['Buy order filled']);
  });

  it('an unverified address gets no email: the delivery is SKIPPED, visibly', async () => {
    const di = await person('Di', false);
    await h.inject(DepositSucceeded, deposit(di.userId));
    const node = await onlyNotification(di.userId, 'DEPOSIT_SUCCEEDED');
    await settled(node.id);
    expect((await onlyNotification(di.userId, 'DEPOSIT_SUCCEEDED')).deliveries).toMatchObject([
      { channel: 'EMAIL', status: 'SKIPPED', lastError: 'no verified email address', sentAt: null },
    ]);
    // Known but unverified is skipped at once: no waiting for a verification.
    expect((await settled(node.id)).map((j) => [j.status, j.attempts])).toEqual([['SKIPPED', 1]]);
    expect(mailsTo(di.email)).toHaveLength(0);
  });

  it('keeps the highest contact version: an older one delivered late changes nothing', async () => {
    const userId = randomUUID();
    const now = new Date().toISOString();
    await h.inject(UserContactChanged, { userId, email: `new-${userId}@vibe.test`, emailVerified: true, displayName: 'Eve New', version: 3, changedAt: now });
    await h.inject(UserContactChanged, { userId, email: `old-${userId}@vibe.test`, emailVerified: true, displayName: 'Eve Old', version: 2, changedAt: now });
    await h.inject(DepositSucceeded, deposit(userId));
    const mail = await catcher.waitForMail({ to: `new-${userId}@vibe.test` });
    expect(mail.text).toContain('Hi Eve New,');
    expect(mailsTo(`old-${userId}@vibe.test`)).toHaveLength(0);
  });

  it('an SMTP 5xx ends DEAD at once, with the refusal visible and no internals', async () => {
    const fay = await person('Fay');
    catcher.failNext(550);
    await h.inject(DepositSucceeded, deposit(fay.userId));
    const node = await onlyNotification(fay.userId, 'DEPOSIT_SUCCEEDED');
    expect((await settled(node.id)).map((j) => [j.status, j.attempts])).toEqual([['DEAD', 1]]);
    expect((await onlyNotification(fay.userId, 'DEPOSIT_SUCCEEDED')).deliveries).toEqual([
      { channel: 'EMAIL', status: 'DEAD', attempts: 1, lastError: 'the mail server refused the message (550)', sentAt: null },
    ]);
    expect(mailsTo(fay.email)).toHaveLength(0);
  });

  it('a dropped connection is retried with backoff and then SENT', async () => {
    const gus = await person('Gus');
    catcher.failNext('drop', 2);
    await h.inject(DepositSucceeded, deposit(gus.userId));
    const node = await onlyNotification(gus.userId, 'DEPOSIT_SUCCEEDED');
    expect((await settled(node.id)).map((j) => [j.status, j.attempts])).toEqual([['SENT', 3]]);
    await catcher.waitForMail({ to: gus.email });
    expect(mailsTo(gus.email)).toHaveLength(1);
    expect((await onlyNotification(gus.userId, 'DEPOSIT_SUCCEEDED')).deliveries).toMatchObject([{ status: 'SENT', attempts: 3, lastError: null }]);
  });

  it('with IN_APP off the notification is not listed, counted or read by id, yet still mailed; with every channel off nothing is kept', async () => {
    const hal = await person('Hal');
    await service.updateChannels(principalOf(hal.userId), [{ kind: 'DEPOSIT_SUCCEEDED', channel: 'IN_APP', enabled: false }]);
    // IN_APP is the kind's enabled of notificationPreferences.
    expect((await mine(hal.userId)).notificationPreferences.kinds.find((k) => k.kind === 'DEPOSIT_SUCCEEDED')?.enabled).toBe(false);
    await h.inject(DepositSucceeded, deposit(hal.userId));
    await catcher.waitForMail({ to: hal.email, subject: 'Deposit received' });
    expect((await mine(hal.userId)).notifications.totalCount).toBe(0);

    await service.updatePreferences(principalOf(hal.userId), { kinds: [{ kind: 'ORDER_FILLED', enabled: false }] });
    await service.updateChannels(principalOf(hal.userId), [{ kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: false }]);
    await h.inject(OrderFilled, fill(hal.userId));
    const channels = (await mine(hal.userId)).notificationChannels.filter((c) => c.kind === 'ORDER_FILLED');
    expect(channels).toEqual([
      { kind: 'ORDER_FILLED', channel: 'IN_APP', enabled: false },
      { kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: false },
      { kind: 'ORDER_FILLED', channel: 'PUSH', enabled: true },
    ]);
    // PUSH has no sender in this process: nothing kept, nothing queued.
    expect((await mine(hal.userId)).notifications.totalCount).toBe(0);
    expect(mailsTo(hal.email).map((m) => m.subject)).toEqual(['Deposit received']);
  });
});

describe("email before the user's contact is known (events of different contexts arrive in any order)", () => {
  const contactOf = (userId: string, name: string, verified = true, version = 1) => ({
    userId,
    email: `${name.toLowerCase()}-${userId.slice(0, 8)}@vibe.test`,
    emailVerified: verified,
    displayName: name,
    version,
    changedAt: new Date().toISOString(),
  });

  /** The notification's EMAIL job once it has been tried `attempts` times or more (still waiting). */
  async function waiting(notificationId: string, attempts: number) {
    const start = Date.now();
    for (;;) {
      const [job] = await jobsByKeys(h.db.reader(), [deliveryJobKey(notificationId, 'EMAIL')]);
      if ((job && job.status !== 'RUNNING' && job.attempts >= attempts) || Date.now() - start > 10_000) return job;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("a contact that arrives after the notification's event still gets exactly one email, sent as soon as the contact is projected", async () => {
    const userId = randomUUID();
    const contact = contactOf(userId, 'Max');
    await h.inject(DepositSucceeded, deposit(userId, 4200));
    const node = await onlyNotification(userId, 'DEPOSIT_SUCCEEDED');
    // Not skipped: retried while the contact is on its way, and visibly so.
    const before = await waiting(node.id, 3);
    expect(before).toMatchObject({ status: 'FAILED', lastError: "waiting for the user's email address" });
    expect(before!.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    expect((await onlyNotification(userId, 'DEPOSIT_SUCCEEDED')).deliveries).toMatchObject([
      { channel: 'EMAIL', status: 'FAILED', lastError: "waiting for the user's email address", sentAt: null },
    ]);
    await h.inject(UserContactChanged, contact);
    // The contact's commit made the job due at once (not at its next backoff) and woke the worker.
    const [after] = await jobsByKeys(h.db.reader(), [deliveryJobKey(node.id, 'EMAIL')]);
    expect(after!.nextAttemptAt.getTime()).toBeLessThanOrEqual(before!.nextAttemptAt.getTime() - 100);
    const mail = await catcher.waitForMail({ to: contact.email });
    expect(mail.subject).toBe('Deposit received');
    expect(mail.text).toContain('Hi Max,');
    expect((await settled(node.id)).map((j) => j.status)).toEqual(['SENT']);
    await new Promise((r) => setTimeout(r, 200));
    expect(mailsTo(contact.email)).toHaveLength(1);
  });

  it('both events redelivered three times, the contact last, still send one email', async () => {
    const userId = randomUUID();
    const contact = contactOf(userId, 'Nia');
    const event = deposit(userId, 1300);
    await h.inject(DepositSucceeded, event, { times: 3 });
    const node = await onlyNotification(userId, 'DEPOSIT_SUCCEEDED');
    await waiting(node.id, 1);
    await h.inject(UserContactChanged, contact, { times: 3 });
    await h.inject(DepositSucceeded, event, { times: 3 });
    await catcher.waitForMail({ to: contact.email });
    expect((await settled(node.id)).map((j) => j.status)).toEqual(['SENT']);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(contact.email)).toHaveLength(1);
    expect((await mine(userId)).notifications.totalCount).toBe(1);
  });

  it('a user whose contact never arrives ends SKIPPED once the wait is over, with the reason', async () => {
    const nobody = randomUUID();
    await h.inject(DepositSucceeded, deposit(nobody));
    const node = await onlyNotification(nobody, 'DEPOSIT_SUCCEEDED');
    const [job] = await settled(node.id);
    expect(job).toMatchObject({ status: 'SKIPPED', lastError: 'no email address arrived for the user' });
    expect(job!.attempts).toBeGreaterThan(1);
    expect(job!.finishedAt!.getTime() - job!.createdAt.getTime()).toBeGreaterThanOrEqual(CONTACT_WAIT_MS - 50);
    expect((await onlyNotification(nobody, 'DEPOSIT_SUCCEEDED')).deliveries).toMatchObject([
      { channel: 'EMAIL', status: 'SKIPPED', lastError: 'no email address arrived for the user', sentAt: null },
    ]);
  });
});

describe('channel settings', () => {
  it('lists every kind on every channel, enabled unless changed; only the pairs listed change', async () => {
    const ivy = await person('Ivy');
    const before = (await mine(ivy.userId)).notificationChannels;
    expect(before).toHaveLength(18);
    expect(before.every((c) => c.enabled)).toBe(true);
    await service.updateChannels(principalOf(ivy.userId), [
      { kind: 'REVENUE_PAID', channel: 'PUSH', enabled: false },
      { kind: 'REWARD_VOUCHER', channel: 'IN_APP', enabled: false },
    ]);
    const after = await service.updateChannels(principalOf(ivy.userId), [{ kind: 'REVENUE_PAID', channel: 'PUSH', enabled: true }]);
    expect(after.filter((c) => !c.enabled)).toEqual([{ kind: 'REWARD_VOUCHER', channel: 'IN_APP', enabled: false }]);
    // The existing preferences API says the same about IN_APP, both ways.
    await service.updatePreferences(principalOf(ivy.userId), { kinds: [{ kind: 'REWARD_VOUCHER', enabled: true }] });
    expect((await mine(ivy.userId)).notificationChannels.every((c) => c.enabled)).toBe(true);
  });

  it('refuses a pair named twice, too many pairs, no sign-in, and another user', async () => {
    const jo = principalOf(randomUUID());
    expect(
      await refusalCode(
        service.updateChannels(jo, [
          { kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: false },
          { kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: true },
        ]),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      await refusalCode(
        service.updateChannels(
          jo,
          Array.from({ length: 19 }, () => ({ kind: 'ORDER_FILLED', channel: 'EMAIL', enabled: false })),
        ),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(await refusalCode(service.updateChannels(null, []))).toBe('UNAUTHENTICATED');
    const other = await query<{ _entities: { notificationChannels: unknown }[] }>(
      jo,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { notificationChannels { kind } } } }`,
      { r: [{ __typename: 'User', id: randomUUID() }] },
    );
    expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('unsubscribeEmail', () => {
  it("follows an email's link without signing in: that kind's email is off, another kind still mails", async () => {
    const kai = await person('Kai');
    await h.inject(DepositSucceeded, deposit(kai.userId));
    const mail = await catcher.waitForMail({ to: kai.email, subject: 'Deposit received' });
    const link = new URL(mail.links.find((l) => l.startsWith(`${WEB}/unsubscribe?`))!);
    const token = link.searchParams.get('token')!;
    const result = await query<{ unsubscribeEmail: boolean }>(null, `mutation($token: String!) { unsubscribeEmail(token: $token) }`, { token });
    expect(result.errors).toBeUndefined();
    expect(result.data?.unsubscribeEmail).toBe(true);
    // The same link again is fine.
    expect(await service.unsubscribeEmail(token)).toBe(true);
    const channels = (await mine(kai.userId)).notificationChannels.filter((c) => c.channel === 'EMAIL');
    expect(channels.filter((c) => !c.enabled)).toEqual([{ kind: 'DEPOSIT_SUCCEEDED', channel: 'EMAIL', enabled: false }]);
    await h.inject(DepositSucceeded, deposit(kai.userId, 999));
    await h.inject(OrderFilled, fill(kai.userId));
    await catcher.waitForMail({ to: kai.email, subject: 'Buy order filled' });
    expect(mailsTo(kai.email).map((m) => m.subject)).toEqual(['Deposit received', 'Buy order filled']);
  });

  it('refuses a tampered, foreign or malformed token with BAD_USER_INPUT and changes nothing', async () => {
    const lu = await person('Lu');
    const good = await signUnsubscribeToken(SECRET, { userId: lu.userId, kind: 'ORDER_FILLED' });
    const foreign = await signUnsubscribeToken('some-other-secret-0123456789-abcdefgh', { userId: lu.userId, kind: 'ORDER_FILLED' });
    for (const token of [`${good.slice(0, -3)}abc`, foreign, '', 'not.a.token', 'x'.repeat(5000)]) {
      const result = await query(null, `mutation($token: String!) { unsubscribeEmail(token: $token) }`, { token });
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect((await mine(lu.userId)).notificationChannels.every((c) => c.enabled)).toBe(true);
  });
});
