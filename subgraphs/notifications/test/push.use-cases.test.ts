// Web Push use cases on notifications' own schema: registering and removing browsers'
// subscriptions (through this subgraph's GraphQL schema in process, as its server runs them), and
// the `notification.push` job against a local push service that checks VAPID and decrypts each
// message with the subscription's keys. No gateway: push.e2e.test.ts is the whole path.
import { randomUUID } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsByKeys, MemoryLiveEvents, newEnvelope, PermanentJobError, SkipJobError, type Job, type Principal } from '@vibestream/platform';
import { openContext, startPushService, decryptPushPayload, type ContextHarness, type LocalPushService } from '@vibestream/testkit';
import { DepositSucceeded } from '@vibestream/contracts/payments';
import { MAX_PUSH_SUBSCRIPTIONS_PER_USER } from '../src/domain/push-subscription.ts';
import { notificationsHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { createPushSender, pushJobHandler, PushSubscriptions } from '../src/push.ts';
import { NotificationsService } from '../src/service.ts';
import { queryInProcess, user } from './helpers.ts';

let h: ContextHarness;
let push: LocalPushService;
let subscriptions: PushSubscriptions;
let service: NotificationsService;
const vapid = { ...webpush.generateVAPIDKeys(), subject: 'mailto:push@vibestream.test' };

beforeAll(async () => {
  h = await openContext({ name: 'notifications', migrations });
  push = await startPushService();
  service = new NotificationsService({ db: h.db, live: new MemoryLiveEvents(), log: h.log });
  subscriptions = new PushSubscriptions({ db: h.db, production: false, publicKey: vapid.publicKey });
  h.consume(notificationsHandlers(h.db, service));
});

afterAll(async () => {
  await push?.close();
  await h?.close();
});

const query = <T>(principal: Principal | null, source: string, variables: Record<string, unknown> = {}) =>
  queryInProcess<T>({ h, service, push: subscriptions }, principal, source, variables);

const REGISTER = `mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id endpointOrigin createdAt } }`;
const REMOVE = `mutation($id: ID!) { removePushSubscription(id: $id) }`;
const LIST = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { pushSubscriptions { id endpointOrigin createdAt } } } }`;
type Registered = { registerPushSubscription: { id: string; endpointOrigin: string; createdAt: string } };
type Listed = { _entities: { pushSubscriptions: { id: string; endpointOrigin: string }[] | null }[] };

const inputOf = (s: { endpoint: string; p256dh: string; auth: string }) => ({ endpoint: s.endpoint, p256dh: s.p256dh, auth: s.auth });
const codes = (result: ExecutionResult<unknown>) => result.errors?.map((e) => e.extensions?.code);

async function register(p: Principal | null, s: { endpoint: string; p256dh: string; auth: string }) {
  return query<Registered>(p, REGISTER, { input: inputOf(s) });
}

async function listOf(p: Principal | null, userId: string) {
  return query<Listed>(p, LIST, { representations: [{ __typename: 'User', id: userId }] });
}

async function idsOf(p: Principal): Promise<string[]> {
  const result = await listOf(p, p.userId);
  expect(result.errors).toBeUndefined();
  return result.data!._entities[0]!.pushSubscriptions!.map((s) => s.id);
}

describe('registering push subscriptions', () => {
  it('answers the VAPID public key to anyone', async () => {
    const result = await query<{ webPushPublicKey: string }>(null, '{ webPushPublicKey }');
    expect(result.data?.webPushPublicKey).toBe(vapid.publicKey);
  });

  it("keeps a browser's subscription once, however often it is registered, and shows only its origin", async () => {
    const fan = user();
    const browser = push.createSubscription({ applicationServerKey: vapid.publicKey });
    const first = await register(fan, browser);
    expect(first.errors).toBeUndefined();
    expect(first.data!.registerPushSubscription.endpointOrigin).toBe(push.url);
    const again = await register(fan, browser);
    expect(again.data!.registerPushSubscription).toEqual(first.data!.registerPushSubscription);
    const listed = await listOf(fan, fan.userId);
    expect(listed.data!._entities[0]!.pushSubscriptions).toEqual([
      { id: first.data!.registerPushSubscription.id, endpointOrigin: push.url, createdAt: expect.any(String) },
    ]);
    expect(JSON.stringify(listed)).not.toContain(browser.p256dh);
  });

  it('moves an endpoint another user registered to the caller, under a new id', async () => {
    const [alice, bob] = [user(), user()];
    const browser = push.createSubscription();
    const byAlice = (await register(alice, browser)).data!.registerPushSubscription;
    const byBob = (await register(bob, browser)).data!.registerPushSubscription;
    expect(byBob.id).not.toBe(byAlice.id);
    expect(await idsOf(alice)).toEqual([]);
    expect(await idsOf(bob)).toEqual([byBob.id]);
    // Alice's old id is not hers to remove any more.
    expect((await query<{ removePushSubscription: boolean }>(alice, REMOVE, { id: byAlice.id })).data!.removePushSubscription).toBe(false);
    expect(await idsOf(bob)).toEqual([byBob.id]);
  });

  it(`keeps at most ${MAX_PUSH_SUBSCRIPTIONS_PER_USER} per user, even when registrations race`, async () => {
    const fan = user();
    const browsers = Array.from({ length: MAX_PUSH_SUBSCRIPTIONS_PER_USER + 5 }, () => push.createSubscription());
    const results = await Promise.all(browsers.map((b) => register(fan, b)));
    expect(results.filter((r) => !r.errors).length).toBe(MAX_PUSH_SUBSCRIPTIONS_PER_USER);
    expect(results.filter((r) => r.errors).flatMap(codes)).toEqual(Array(5).fill('BAD_USER_INPUT'));
    expect(await idsOf(fan)).toHaveLength(MAX_PUSH_SUBSCRIPTIONS_PER_USER);
    // Registering one already kept is still the same subscription, not a 21st.
    const kept = results.find((r) => !r.errors)!.data!.registerPushSubscription;
    const keptBrowser = browsers[results.findIndex((r) => !r.errors)]!;
    expect((await register(fan, keptBrowser)).data!.registerPushSubscription.id).toBe(kept.id);
  });

  it('keeps one row when the same endpoint is registered concurrently', async () => {
    const fan = user();
    const browser = push.createSubscription();
    const results = await Promise.all(Array.from({ length: 8 }, () => register(fan, browser)));
    expect(results.every((r) => !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data!.registerPushSubscription.id)).size).toBe(1);
    expect(await idsOf(fan)).toHaveLength(1);
  });

  it('refuses bad input with BAD_USER_INPUT naming the field, and anonymous callers', async () => {
    const fan = user();
    const good = push.createSubscription();
    const cases: [Record<string, string>, string][] = [
      [{ endpoint: 'http://push.example.com/x' }, 'input.endpoint'],
      [{ endpoint: `https://push.example.com/${'a'.repeat(1024)}` }, 'input.endpoint'],
      [{ endpoint: 'not a url' }, 'input.endpoint'],
      [{ p256dh: good.auth }, 'input.p256dh'],
      [{ p256dh: 'B'.repeat(87) }, 'input.p256dh'],
      [{ auth: good.p256dh }, 'input.auth'],
      [{ auth: '' }, 'input.auth'],
    ];
    for (const [over, field] of cases) {
      const result = await query(fan, REGISTER, { input: { ...inputOf(good), ...over } });
      expect(codes(result), JSON.stringify(over)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors![0]!.extensions?.field).toBe(field);
    }
    expect(codes(await register(null, good))).toEqual(['UNAUTHENTICATED']);
    expect(await idsOf(fan)).toEqual([]);
  });
});

describe('removing and listing', () => {
  it("removes only the caller's own, parses the id, and lists only for the user themself", async () => {
    const [owner, other] = [user(), user()];
    const id = (await register(owner, push.createSubscription())).data!.registerPushSubscription.id;
    expect((await query<{ removePushSubscription: boolean }>(other, REMOVE, { id })).data!.removePushSubscription).toBe(false);
    expect(await idsOf(owner)).toEqual([id]);
    expect(codes(await query(owner, REMOVE, { id: 'not-an-id' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await query(null, REMOVE, { id }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await listOf(other, owner.userId))).toEqual(['FORBIDDEN']);
    expect(codes(await listOf(user(['ADMIN']), owner.userId))).toEqual(['FORBIDDEN']);
    expect(codes(await listOf(null, owner.userId))).toEqual(['UNAUTHENTICATED']);
    expect((await query<{ removePushSubscription: boolean }>(owner, REMOVE, { id: id.toUpperCase() })).data!.removePushSubscription).toBe(true);
    expect((await query<{ removePushSubscription: boolean }>(owner, REMOVE, { id })).data!.removePushSubscription).toBe(false);
    expect(await idsOf(owner)).toEqual([]);
  });
});

describe('the notification.push job', () => {
  const job = (n = 1): Job => ({ id: '1', kind: 'notification.push', key: 'k', attempt: n, createdAt: new Date() });
  const handler = () =>
    pushJobHandler({ db: h.db, sender: createPushSender(vapid, { timeoutMs: 2000 }), rewardToken: { decimals: 18, symbol: null }, log: h.log });

  /** A deposit notification for `userId`; answers its id. */
  async function notify(userId: string, amountCents = 4200): Promise<string> {
    await h.inject(DepositSucceeded, { depositId: randomUUID(), userId, amountCents, succeededAt: new Date().toISOString() });
    const result = await query<{ _entities: { notifications: { edges: { node: { id: string } }[] } }[] }>(
      { userId, roles: ['FAN'], sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 60 },
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { notifications(first: 1) { edges { node { id } } } } } }`,
      { r: [{ __typename: 'User', id: userId }] },
    );
    return result.data!._entities[0]!.notifications.edges[0]!.node.id;
  }

  it("sends the notification to each of the user's subscriptions, encrypted for each, signed with VAPID", async () => {
    const fan = user();
    const [phone, laptop] = [
      push.createSubscription({ applicationServerKey: vapid.publicKey }),
      push.createSubscription({ applicationServerKey: vapid.publicKey }),
    ];
    await register(fan, phone);
    await register(fan, laptop);
    const id = await notify(fan.userId);
    await handler()({ notificationId: id }, job());
    for (const browser of [phone, laptop]) {
      const [message] = push.messages(browser.endpoint);
      expect(message).toMatchObject({ ttl: 86400, urgency: 'normal', topic: id.replace(/-/g, '') });
      expect(message!.vapid).toMatchObject({ aud: push.url, sub: vapid.subject, publicKey: vapid.publicKey });
      const payload = JSON.parse(
        decryptPushPayload(message!.body, { privateKey: browser.privateKey, publicKey: browser.p256dh, auth: browser.auth }).toString(),
      ) as Record<string, unknown>;
      expect(payload).toEqual({
        title: 'Deposit received',
        body: '$42.00 was added to your trading account.',
        url: `/notifications?id=${id}`,
        tag: id,
        kind: 'DEPOSIT_SUCCEEDED',
      });
    }
    // Run again (a retried job): nothing is sent twice.
    await handler()({ notificationId: id }, job(2));
    expect(push.messages(phone.endpoint)).toHaveLength(1);
    expect(push.messages(laptop.endpoint)).toHaveLength(1);
  });

  it('deletes a subscription the push service calls gone (410, 404)', async () => {
    const fan = user();
    const [gone, missing, fine] = [push.createSubscription(), push.createSubscription(), push.createSubscription()];
    for (const b of [gone, missing, fine]) await register(fan, b);
    push.unsubscribe(gone.endpoint);
    push.respondWith(missing.endpoint, 404);
    await handler()({ notificationId: await notify(fan.userId) }, job());
    expect((await listOf(fan, fan.userId)).data!._entities[0]!.pushSubscriptions).toHaveLength(1);
    expect(push.messages(fine.endpoint)).toHaveLength(1);
    // When the only subscription left is gone too, nothing was sent: the job is skipped, and the subscription deleted.
    push.unsubscribe(fine.endpoint);
    await expect(handler()({ notificationId: await notify(fan.userId) }, job())).rejects.toThrow(/every push subscription was gone/);
    expect((await listOf(fan, fan.userId)).data!._entities[0]!.pushSubscriptions).toEqual([]);
  });

  it('retries (throws) on 429, 5xx and no answer, sending later only to those still owed', async () => {
    const fan = user();
    const [busy, broken, fine] = [push.createSubscription(), push.createSubscription(), push.createSubscription()];
    for (const b of [busy, broken, fine]) await register(fan, b);
    push.respondWith(busy.endpoint, 429, { times: 1 });
    push.respondWith(broken.endpoint, 500, { times: 2 });
    const id = await notify(fan.userId);
    await expect(handler()({ notificationId: id }, job(1))).rejects.toThrow(/2 of 3 subscriptions failed/);
    await expect(handler()({ notificationId: id }, job(2))).rejects.toThrow(/1 of 2 subscriptions failed/);
    await handler()({ notificationId: id }, job(3));
    expect([busy, broken, fine].map((b) => push.messages(b.endpoint).length)).toEqual([1, 1, 1]);
    expect([busy, broken, fine].map((b) => push.requestCount(b.endpoint))).toEqual([2, 3, 1]);

    // A push service that does not answer at all (nothing listens there) is retried too.
    const nobody = user();
    await register(nobody, { ...push.createSubscription(), endpoint: 'http://127.0.0.1:9/push/none' });
    await expect(handler()({ notificationId: await notify(nobody.userId) }, job())).rejects.toThrow(/failed for now/);
  });

  it('is queued only for a user with PUSH on and a browser subscribed, and skips when PUSH was turned off since', async () => {
    const withPush = new NotificationsService({ db: h.db, live: new MemoryLiveEvents(), log: h.log, senders: ['PUSH'] });
    const receive = (userId: string) =>
      h.db.useCase((tx) =>
        withPush.receive(tx, newEnvelope('payments', DepositSucceeded.type, {}), {
          userId,
          songId: null,
          occurredAt: new Date().toISOString(),
          facts: { kind: 'DEPOSIT_SUCCEEDED', depositId: randomUUID(), amountCents: 500, method: null },
        }),
      );
    const pushJobs = async (id: string) => (await jobsByKeys(h.db.reader(), [`${id}:PUSH`])).length;
    const [without, subscribed] = [user(), user()];
    expect(await pushJobs((await receive(without.userId))!.id)).toBe(0);
    await register(subscribed, push.createSubscription());
    const queued = (await receive(subscribed.userId))!;
    expect(await pushJobs(queued.id)).toBe(1);
    // Turned off after it was queued: the job sends nothing.
    await service.updateChannels(subscribed, [{ kind: 'DEPOSIT_SUCCEEDED', channel: 'PUSH', enabled: false }]);
    await expect(handler()({ notificationId: queued.id, userId: subscribed.userId }, job())).rejects.toThrow(/push is off/);
    expect(await pushJobs((await receive(subscribed.userId))!.id)).toBe(0);
    // A payload naming another user is not sent.
    await expect(handler()({ notificationId: queued.id, userId: without.userId }, job())).rejects.toBeInstanceOf(SkipJobError);
  });

  it('in production never connects to a name that resolves to a private address', async () => {
    const browser = push.createSubscription();
    const viaName = { ...browser, endpoint: browser.endpoint.replace('//127.0.0.1:', '//localhost:') };
    const message = { title: 't', body: 'b', url: '/notifications', tag: 'x', kind: 'DEPOSIT_SUCCEEDED' as const };
    const headers = { urgency: 'normal' as const, topic: 'x' };
    const production = await createPushSender(vapid, { timeoutMs: 2000, production: true }).send(viaName, message, headers);
    expect(production).toMatchObject({ status: null, unsendable: true, error: 'localhost resolves to a private address' });
    expect(push.requestCount(viaName.endpoint)).toBe(0);
    expect(push.requestCount(browser.endpoint)).toBe(0);
    // Outside production the same name is a local push service like any other: the request reaches
    // it (which refuses it, 401, as the JWT's audience names localhost, not the origin it serves).
    expect(await createPushSender(vapid, { timeoutMs: 2000 }).send(viaName, message, headers)).toEqual({ status: 401 });
    expect(push.requestCount(browser.endpoint)).toBe(1);
    expect(push.refused(browser.endpoint)[0]?.reason).toMatch(/aud/);
  });

  it('notes a request that cannot even be built (keys web-push refuses) as refused, without sending anything', async () => {
    const fan = user();
    const browser = push.createSubscription();
    const { id } = (await register(fan, browser)).data!.registerPushSubscription;
    // Keys spoiled behind the API's back: 65 bytes that are not a point on P-256.
    const spoiled = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0xff)]).toString('base64url');
    await h.orm.em.fork().getConnection().execute(`update push_subscriptions set p256dh = ? where id = ?`, [spoiled, id]);
    await expect(handler()({ notificationId: await notify(fan.userId) }, job())).rejects.toBeInstanceOf(PermanentJobError);
    expect(push.requestCount(browser.endpoint)).toBe(0);
  });

  it('gives up at once when every push service refuses the request (4xx), and skips a user with no subscription', async () => {
    const fan = user();
    const browser = push.createSubscription({ applicationServerKey: webpush.generateVAPIDKeys().publicKey }); // 403: not our key
    await register(fan, browser);
    const id = await notify(fan.userId);
    await expect(handler()({ notificationId: id }, job())).rejects.toBeInstanceOf(PermanentJobError);
    expect(push.refused(browser.endpoint).map((r) => r.status)).toEqual([403]);
    await expect(handler()({ notificationId: await notify(user().userId) }, job())).rejects.toBeInstanceOf(SkipJobError);
    await expect(handler()({ notificationId: randomUUID() }, job())).rejects.toBeInstanceOf(SkipJobError);
    await expect(handler()({ notificationId: 'nope' }, job())).rejects.toBeInstanceOf(PermanentJobError);
  });
});
