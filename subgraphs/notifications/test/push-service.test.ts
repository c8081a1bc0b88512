// The local push service (testkit) is the peer the Web Push tests trust, so it is checked here
// against the `web-push` library itself: what web-push encrypts (RFC 8291) the service decrypts
// with the subscription's keys, what web-push signs (RFC 8292) it accepts, and what is tampered
// with, signed by another key, aimed at another origin or kept too long it refuses.
import { createECDH, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT, importJWK } from 'jose';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPushPayload, PushRefusal, startPushService, verifyVapidAuthorization, type LocalPushService } from '@vibestream/testkit';

const vapid = webpush.generateVAPIDKeys();
const SUBJECT = 'mailto:push@vibestream.test';
let push: LocalPushService;

beforeAll(async () => {
  push = await startPushService();
});
afterAll(async () => {
  await push?.close();
});

/** Sends what web-push builds for `subscription` (headers, encrypted body) to the local service. */
async function send(subscription: { endpoint: string; p256dh: string; auth: string }, payload: string | Buffer | null, options: webpush.RequestOptions = {}) {
  const details = webpush.generateRequestDetails(
    { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
    payload ?? undefined,
    {
      vapidDetails: { subject: SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
      TTL: 60,
      ...options,
    },
  );
  const headers = Object.fromEntries(Object.entries(details.headers).map(([k, v]) => [k, String(v)]));
  const response = await fetch(details.endpoint, { method: details.method, headers, body: details.body ? new Uint8Array(details.body) : null });
  return { status: response.status, text: await response.text(), details };
}

describe('decryptPushPayload (RFC 8291) against web-push.encrypt', () => {
  it('recovers any payload web-push encrypts for the subscription, and nothing with another key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3993 }), (bytes) => {
        const ua = createECDH('prime256v1');
        const uaPublic = ua.generateKeys();
        const auth = randomBytes(16);
        const payload = Buffer.from(bytes);
        const { cipherText } = webpush.encrypt(uaPublic.toString('base64url'), auth.toString('base64url'), payload, 'aes128gcm');
        const keys = { privateKey: ua.getPrivateKey(), publicKey: uaPublic, auth };
        expect(decryptPushPayload(cipherText, keys).equals(payload)).toBe(true);
        // Another auth secret: the keys derived differ, so the tag does not verify.
        expect(() => decryptPushPayload(cipherText, { ...keys, auth: randomBytes(16) })).toThrow(PushRefusal);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a body with a flipped bit anywhere past the header', () => {
    const ua = createECDH('prime256v1');
    const uaPublic = ua.generateKeys();
    const auth = randomBytes(16);
    const { cipherText } = webpush.encrypt(uaPublic.toString('base64url'), auth.toString('base64url'), Buffer.from('{"title":"hi"}'), 'aes128gcm');
    const keys = { privateKey: ua.getPrivateKey(), publicKey: uaPublic, auth };
    fc.assert(
      fc.property(fc.integer({ min: 21, max: cipherText.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const tampered = Buffer.from(cipherText);
        tampered[at]! ^= 1 << bit;
        expect(() => decryptPushPayload(tampered, keys)).toThrow(PushRefusal);
      }),
      { numRuns: 60 },
    );
  });
});

describe('verifyVapidAuthorization (RFC 8292)', () => {
  const audience = 'http://127.0.0.1:9';
  const header = () => webpush.getVapidHeaders(audience, SUBJECT, vapid.publicKey, vapid.privateKey, 'aes128gcm').Authorization;

  it("accepts web-push's own header and reads its claims", async () => {
    const claims = await verifyVapidAuthorization(header(), audience);
    expect(claims).toMatchObject({ aud: audience, sub: SUBJECT, publicKey: vapid.publicKey });
    expect(claims.exp).toBeLessThanOrEqual(Date.now() / 1000 + 24 * 3600);
  });

  it('refuses a tampered JWT, another key, another audience, a missing or wrong scheme', async () => {
    const good = header();
    const token = /t=([^,]+)/.exec(good)![1]!;
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mailto:mallory@example.com' })).toString('base64url');
    const other = webpush.generateVAPIDKeys();
    const refusals = [
      good.replace(token, `${h}.${forged}.${s}`), // claims changed under the same signature
      good.replace(token, `${h}.${p}.${Buffer.from(s, 'base64url').reverse().toString('base64url')}`), // signature altered
      good.replace(`k=${vapid.publicKey}`, `k=${other.publicKey}`), // signed by one key, claiming another
      webpush.getVapidHeaders('http://127.0.0.1:10', SUBJECT, vapid.publicKey, vapid.privateKey, 'aes128gcm').Authorization, // another origin
      good.replace('vapid ', 'WebPush '),
      `vapid t=${token}`,
      'vapid t=not.a.jwt, k=' + vapid.publicKey,
      'vapid t=' + token + ', k=AAAA',
    ];
    for (const bad of refusals) {
      await expect(verifyVapidAuthorization(bad, audience), bad).rejects.toMatchObject({ status: 401 });
    }
    await expect(verifyVapidAuthorization(undefined, audience)).rejects.toMatchObject({ status: 401 });
  });

  it('refuses an expiry more than 24 hours ahead, an expired token, and a subject that is neither mailto: nor https:', async () => {
    const d = Buffer.from(vapid.privateKey, 'base64url');
    const pub = Buffer.from(vapid.publicKey, 'base64url');
    const key = await importJWK(
      { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
      'ES256',
    );
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ typ: 'JWT', alg: 'ES256' }).sign(key);
    const auth = async (claims: Record<string, unknown>) => `vapid t=${await sign(claims)}, k=${vapid.publicKey}`;
    await expect(verifyVapidAuthorization(await auth({ aud: audience, exp: now + 3600, sub: 'https://vibestream.test' }), audience)).resolves.toMatchObject({
      sub: 'https://vibestream.test',
    });
    for (const claims of [
      { aud: audience, exp: now + 25 * 3600, sub: SUBJECT },
      { aud: audience, exp: now - 60, sub: SUBJECT },
      { aud: audience, sub: SUBJECT },
      { aud: audience, exp: now + 60, sub: 'http://vibestream.test' },
      { aud: audience, exp: now + 60 },
    ]) {
      await expect(verifyVapidAuthorization(await auth(claims), audience), JSON.stringify(claims)).rejects.toMatchObject({ status: 401 });
    }
  });
});

describe('the local push service over HTTP', () => {
  it("accepts web-push's request, keeps its headers and decrypts its payload with the subscription's keys", async () => {
    const subscription = push.createSubscription({ applicationServerKey: vapid.publicKey });
    expect(Buffer.from(subscription.p256dh, 'base64url')).toHaveLength(65);
    expect(Buffer.from(subscription.auth, 'base64url')).toHaveLength(16);
    const sent = await send(subscription, JSON.stringify({ title: 'Hello', body: 'World' }), { urgency: 'high', topic: 'abc123' });
    expect(sent.status).toBe(201);
    const [message] = push.messages(subscription.endpoint);
    expect(message).toMatchObject({ ttl: 60, urgency: 'high', topic: 'abc123', text: '{"title":"Hello","body":"World"}' });
    expect(message!.vapid).toMatchObject({ aud: push.url, sub: SUBJECT, publicKey: vapid.publicKey });
    // The test can decrypt it itself with the browser's keys, too.
    expect(decryptPushPayload(message!.body, { privateKey: subscription.privateKey, publicKey: subscription.p256dh, auth: subscription.auth }).toString()).toBe(
      message!.text,
    );
  });

  it('refuses another VAPID key than the applicationServerKey (403), an unknown endpoint (404), an unsubscribed one (410)', async () => {
    const subscription = push.createSubscription({ applicationServerKey: webpush.generateVAPIDKeys().publicKey });
    expect((await send(subscription, 'x')).status).toBe(403);
    expect((await send({ ...subscription, endpoint: `${push.url}/push/nobody` }, 'x')).status).toBe(404);
    const gone = push.createSubscription();
    push.unsubscribe(gone.endpoint);
    expect((await send(gone, 'x')).status).toBe(410);
    expect(push.messages(gone.endpoint)).toEqual([]);
  });

  it('refuses a body encrypted for other keys (400) and a request without VAPID (401)', async () => {
    const subscription = push.createSubscription();
    const other = push.createSubscription();
    expect((await send({ ...subscription, p256dh: other.p256dh, auth: other.auth }, 'secret')).status).toBe(400);
    const details = webpush.generateRequestDetails({ endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, 'x', {
      TTL: 5,
    });
    const headers = Object.fromEntries(Object.entries(details.headers).map(([k, v]) => [k, String(v)]));
    expect((await fetch(subscription.endpoint, { method: 'POST', headers, body: new Uint8Array(details.body) })).status).toBe(401);
    expect(push.refused(subscription.endpoint).map((r) => r.status)).toEqual([400, 401]);
  });

  it('answers a forced status the given number of times, then accepts again', async () => {
    const subscription = push.createSubscription();
    push.respondWith(subscription.endpoint, 429, { times: 2 });
    expect((await send(subscription, 'a')).status).toBe(429);
    expect((await send(subscription, 'b')).status).toBe(429);
    expect((await send(subscription, 'c')).status).toBe(201);
    expect(push.messages(subscription.endpoint).map((m) => m.text)).toEqual(['c']);
    expect(push.requestCount(subscription.endpoint)).toBe(3);
  });

  it('refuses a body over 4096 bytes (413)', async () => {
    const subscription = push.createSubscription();
    const details = webpush.generateRequestDetails({ endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, 'x', {
      vapidDetails: { subject: SUBJECT, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    });
    const headers = Object.fromEntries(Object.entries(details.headers).map(([k, v]) => [k, String(v)]));
    delete headers['Content-Length'];
    const { status } = await fetch(subscription.endpoint, { method: 'POST', headers, body: randomBytes(5000) });
    expect(status).toBe(413);
  });
});
