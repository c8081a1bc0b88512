// Web Push end to end through the gateway: a fan registers a browser subscription (made by the
// local push service, as PushManager.subscribe would) with the contract's own operations, an
// event becomes a notification, and the notification's push reaches the push service, which
// checks its VAPID JWT and decrypts it; the test decrypts it again with the subscription's keys.
// Redelivered events send one push, a disabled PUSH channel sends none, a 410 removes the
// subscription, and a push signed with a key the subscription was not made for is refused.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, print, type OperationDefinitionNode } from 'graphql';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '@vibestream/platform';
import {
  decryptPushPayload,
  errorCode,
  eventually,
  publishEvent,
  startPushService,
  startTestStack,
  type LocalPushService,
  type TestStack,
} from '@vibestream/testkit';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { identitySubgraph } from '@vibestream/identity';
import { notificationsSubgraph } from '../src/index.ts';
import { handled } from './helpers.ts';

/** The contract's operations by name (../shared/contract/reach.graphql): the clients' own documents. */
const contract = (() => {
  const document = parse(readFileSync(resolve(projectRoot, process.env.CONTRACT_DIR ?? '../shared/contract', 'reach.graphql'), 'utf8'));
  const byName = new Map<string, string>();
  for (const definition of document.definitions) {
    if (definition.kind === 'OperationDefinition' && definition.name) byName.set(definition.name.value, print(definition as OperationDefinitionNode));
  }
  return (name: string) => {
    const operation = byName.get(name);
    if (!operation) throw new Error(`reach.graphql has no operation ${name}`);
    return operation;
  };
})();

const vapid = webpush.generateVAPIDKeys();
const SUBJECT = 'mailto:push-e2e@vibestream.test';
let stack: TestStack;
let push: LocalPushService;

beforeAll(async () => {
  push = await startPushService();
  stack = await startTestStack('push', [identitySubgraph, notificationsSubgraph], {
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: SUBJECT,
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await push?.close();
});

interface Fan {
  userId: string;
  token: string;
}

async function signUp(): Promise<Fan> {
  const result = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
    { input: { email: `push-${randomUUID()}@vibestream.test`, password: 'correct horse battery', displayName: 'Push Fan' } },
  );
  expect(result.errors).toBeUndefined();
  return { userId: result.data!.register.user.id, token: result.data!.register.accessToken };
}

type Subscriptions = { me: { pushSubscriptions: { id: string; endpointOrigin: string; createdAt: string }[] } };

async function subscriptionsOf(fan: Fan) {
  const result = await stack.gql<Subscriptions>(`query { me { pushSubscriptions { id endpointOrigin createdAt } } }`, {}, { token: fan.token });
  expect(result.errors).toBeUndefined();
  return result.data!.me.pushSubscriptions;
}

/** A browser of `fan`'s, subscribed with the server's VAPID key and registered through the gateway. */
async function subscribedBrowser(fan: Fan, applicationServerKey = vapid.publicKey) {
  const browser = push.createSubscription({ applicationServerKey });
  const result = await stack.gql<{ registerPushSubscription: { id: string; endpointOrigin: string } }>(
    contract('RegisterPushSubscription'),
    { input: { endpoint: browser.endpoint, p256dh: browser.p256dh, auth: browser.auth } },
    { token: fan.token },
  );
  expect(result.errors).toBeUndefined();
  return { ...browser, id: result.data!.registerPushSubscription.id };
}

/** A deposit event for the fan, delivered `times` times (redeliveries and re-recordings); waits until notifications handled each. */
async function deposit(fan: Fan, amountCents: number, times = 1) {
  const envelopes = await publishEvent(
    stack,
    DepositSucceeded,
    { depositId: randomUUID(), userId: fan.userId, amountCents, succeededAt: new Date().toISOString() },
    { times },
  );
  await handled(stack.db, envelopes);
}

/** The state of the notification's PUSH delivery job once it has finished (sent, skipped, dead), or null when none was queued. */
async function pushJobOf(notificationId: string) {
  const found = await eventually(
    async () =>
      (await stack.db.query<{ status: string; attempts: number }>(`select status, attempts from notifications.jobs where key = $1`, [`${notificationId}:PUSH`]))
        .rows[0] ?? null,
    (job) => job === null || ['SENT', 'SKIPPED', 'DEAD'].includes(job.status),
    15_000,
  );
  return found;
}

async function latestNotificationId(fan: Fan): Promise<string> {
  const result = await stack.gql<{ me: { notifications: { edges: { node: { id: string } }[] } } }>(
    `query { me { notifications(first: 1) { edges { node { id } } } } }`,
    {},
    { token: fan.token },
  );
  return result.data!.me.notifications.edges[0]!.node.id;
}

describe('Web Push through the gateway', () => {
  it("serves the configured VAPID key and registers a browser with the contract's operations", async () => {
    const config = await stack.gql<{ webPushPublicKey: string }>(contract('WebPushConfig'));
    expect(config.data?.webPushPublicKey).toBe(vapid.publicKey);
    const fan = await signUp();
    expect(errorCode(await stack.gql(contract('RegisterPushSubscription'), { input: { endpoint: 'https://x.example/', p256dh: 'a', auth: 'b' } }))).toBe(
      'UNAUTHENTICATED',
    );
    const browser = await subscribedBrowser(fan);
    expect(await subscriptionsOf(fan)).toEqual([{ id: browser.id, endpointOrigin: push.url, createdAt: expect.any(String) }]);
    const bad = await stack.gql(
      contract('RegisterPushSubscription'),
      { input: { endpoint: 'http://push.example.com/x', p256dh: browser.p256dh, auth: browser.auth } },
      { token: fan.token },
    );
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(contract('RemovePushSubscription'), { id: 'not-an-id' }, { token: fan.token }))).toBe('BAD_USER_INPUT');
  });

  it('sends a notification redelivered three times as one push, which decrypts with the subscription keys', async () => {
    const fan = await signUp();
    const browser = await subscribedBrowser(fan);
    await deposit(fan, 4200, 3);
    const message = await push.waitForPush(browser.endpoint);
    const payload = JSON.parse(
      decryptPushPayload(message.body, { privateKey: browser.privateKey, publicKey: browser.p256dh, auth: browser.auth }).toString('utf8'),
    ) as Record<string, unknown>;
    const id = await latestNotificationId(fan);
    expect(payload).toEqual({
      title: 'Deposit received',
      body: '$42.00 was added to your trading account.',
      url: `/notifications?id=${id}`,
      tag: id,
      kind: 'DEPOSIT_SUCCEEDED',
    });
    expect(message).toMatchObject({ ttl: 86400, urgency: 'normal', topic: id.replace(/-/g, '') });
    expect(message.vapid).toMatchObject({ aud: push.url, sub: SUBJECT, publicKey: vapid.publicKey });
    expect(await pushJobOf(id)).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(push.messages(browser.endpoint)).toHaveLength(1);
    expect(push.requestCount(browser.endpoint)).toBe(1);
  });

  it('sends nothing when the PUSH channel of that kind is off', async () => {
    const fan = await signUp();
    const browser = await subscribedBrowser(fan);
    const off = await stack.gql(
      contract('UpdateNotificationChannels'),
      { input: [{ kind: 'DEPOSIT_SUCCEEDED', channel: 'PUSH', enabled: false }] },
      { token: fan.token },
    );
    expect(off.errors).toBeUndefined();
    await deposit(fan, 100);
    const id = await latestNotificationId(fan);
    // The notification is kept in the app; no push job was queued for it.
    expect(await pushJobOf(id)).toBeNull();
    // Another kind still pushes, so the silence above is the channel setting.
    await stack.gql(contract('UpdateNotificationChannels'), { input: [{ kind: 'DEPOSIT_SUCCEEDED', channel: 'PUSH', enabled: true }] }, { token: fan.token });
    await deposit(fan, 200);
    const message = await push.waitForPush(browser.endpoint);
    expect(JSON.parse(message.text)).toMatchObject({ body: '$2.00 was added to your trading account.' });
    expect(push.messages(browser.endpoint)).toHaveLength(1);
  });

  it('removes a subscription the push service answers 410 for', async () => {
    const fan = await signUp();
    const kept = await subscribedBrowser(fan);
    const gone = await subscribedBrowser(fan);
    push.unsubscribe(gone.endpoint);
    await deposit(fan, 300);
    await push.waitForPush(kept.endpoint);
    await eventually(
      () => subscriptionsOf(fan),
      (list) => list.length === 1,
    );
    expect((await subscriptionsOf(fan)).map((s) => s.id)).toEqual([kept.id]);
    expect(push.refused(gone.endpoint).map((r) => r.status)).toEqual([410]);
    const listed = await stack.gql<{ me: { pushSubscriptions: { id: string }[] } }>(contract('MyNotificationChannels'), {}, { token: fan.token });
    expect(listed.errors).toBeUndefined();
    expect(listed.data!.me.pushSubscriptions.map((s) => s.id)).toEqual([kept.id]);
  });

  it('is refused by the push service when signed with a key the subscription was not made for, and keeps the subscription', async () => {
    const fan = await signUp();
    const browser = await subscribedBrowser(fan, webpush.generateVAPIDKeys().publicKey);
    await deposit(fan, 400);
    const job = await pushJobOf(await latestNotificationId(fan));
    expect(job).toMatchObject({ status: 'DEAD', attempts: 1 });
    expect(push.refused(browser.endpoint).map((r) => r.status)).toEqual([403]);
    expect(push.messages(browser.endpoint)).toEqual([]);
    expect((await subscriptionsOf(fan)).map((s) => s.id)).toEqual([browser.id]);
  });

  it("removes only the caller's own subscription, and lists them only for the user", async () => {
    const [owner, other] = [await signUp(), await signUp()];
    const browser = await subscribedBrowser(owner);
    const remove = (fan: Fan) => stack.gql<{ removePushSubscription: boolean }>(contract('RemovePushSubscription'), { id: browser.id }, { token: fan.token });
    expect((await remove(other)).data!.removePushSubscription).toBe(false);
    expect((await subscriptionsOf(owner)).map((s) => s.id)).toEqual([browser.id]);
    expect((await remove(owner)).data!.removePushSubscription).toBe(true);
    expect(await subscriptionsOf(owner)).toEqual([]);
  });
});
