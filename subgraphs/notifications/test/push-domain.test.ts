// Web Push rules, pure: which browser subscriptions are kept, what a push says, what a push
// service's answer means, and the VAPID settings.
import { createECDH, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import webpush from 'web-push';
import { describe, expect, it } from 'vitest';
import {
  base64urlBytes,
  isLoopbackHost,
  isPrivateAddress,
  MAX_ENDPOINT_LENGTH,
  pushMessage,
  pushOutcome,
  pushTopic,
  PushSubscriptionRefused,
  validatePushSubscription,
} from '../src/domain/push-subscription.ts';
import { loadNotificationsConfig } from '../src/config.ts';
import { publicKeyOf, resolveVapidKeys } from '../src/push-config.ts';
import { createLogger } from '@vibestream/platform';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const p256 = () => createECDH('prime256v1').generateKeys().toString('base64url');
const auth = () => randomBytes(16).toString('base64url');
const valid = (over: Partial<{ endpoint: string; p256dh: string; auth: string }> = {}) => ({
  endpoint: 'https://fcm.googleapis.com/fcm/send/abc:def',
  p256dh: p256(),
  auth: auth(),
  ...over,
});
const dev = { production: false };
const prod = { production: true };

function refusal(run: () => unknown): PushSubscriptionRefused {
  try {
    run();
  } catch (error) {
    if (error instanceof PushSubscriptionRefused) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('validatePushSubscription', () => {
  it("keeps a browser's subscription and answers its endpoint's origin", () => {
    const input = valid();
    expect(validatePushSubscription(input, prod)).toEqual({ ...input, endpointOrigin: 'https://fcm.googleapis.com' });
  });

  it('accepts any 65-byte P-256 point and 16-byte secret, and refuses every other length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 40 }), (keyLength, authLength) => {
        const key = keyLength === 65 ? createECDH('prime256v1').generateKeys() : randomBytes(keyLength);
        const input = valid({ p256dh: key.toString('base64url'), auth: randomBytes(authLength).toString('base64url') });
        if (keyLength === 65 && authLength === 16) expect(validatePushSubscription(input, prod).p256dh).toBe(input.p256dh);
        else expect(refusal(() => validatePushSubscription(input, prod)).field).toBe(keyLength === 65 ? 'input.auth' : 'input.p256dh');
      }),
      { numRuns: 300 },
    );
  });

  it('refuses 65 bytes that are not an uncompressed point on P-256', () => {
    const point = createECDH('prime256v1').generateKeys();
    const compressedPrefix = Buffer.from(point);
    compressedPrefix[0] = 0x02;
    const offCurve = Buffer.from(point);
    offCurve[64] = offCurve[64]! ^ 1;
    for (const bad of [compressedPrefix, offCurve, Buffer.alloc(65, 0), Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0xff)])]) {
      expect(refusal(() => validatePushSubscription(valid({ p256dh: bad.toString('base64url') }), prod)).field).toBe('input.p256dh');
    }
  });

  it('refuses keys that are not base64url, and huge ones before decoding them', () => {
    const key = createECDH('prime256v1').generateKeys();
    expect(refusal(() => validatePushSubscription(valid({ p256dh: key.toString('base64') + '+/' }), prod)).field).toBe('input.p256dh');
    expect(refusal(() => validatePushSubscription(valid({ p256dh: 'A'.repeat(1_000_000) }), prod)).field).toBe('input.p256dh');
    expect(refusal(() => validatePushSubscription(valid({ auth: '!!!!!!!!!!!!!!!!!!!!!!' }), prod)).field).toBe('input.auth');
    expect(refusal(() => validatePushSubscription(valid({ auth: 'A'.repeat(100_000) }), prod)).field).toBe('input.auth');
    // Padding, as some encoders add it, is tolerated; the stored form is unpadded.
    expect(validatePushSubscription(valid({ auth: `${randomBytes(16).toString('base64url')}==` }), prod).auth).toHaveLength(22);
  });

  it('takes https endpoints up to 1024 characters, refuses longer ones', () => {
    const base = 'https://push.example.com/';
    expect(validatePushSubscription(valid({ endpoint: base + 'a'.repeat(MAX_ENDPOINT_LENGTH - base.length) }), prod).endpoint).toHaveLength(
      MAX_ENDPOINT_LENGTH,
    );
    expect(refusal(() => validatePushSubscription(valid({ endpoint: base + 'a'.repeat(MAX_ENDPOINT_LENGTH) }), prod)).field).toBe('input.endpoint');
    // Normalisation may lengthen a URL (percent-encoding): the stored form is what is limited.
    expect(refusal(() => validatePushSubscription(valid({ endpoint: base + 'é'.repeat(300) }), prod)).field).toBe('input.endpoint');
  });

  it('allows plain http only for a loopback host outside production', () => {
    for (const endpoint of ['http://127.0.0.1:9000/push/x', 'http://localhost:9000/push/x', 'http://[::1]:9000/push/x']) {
      expect(validatePushSubscription(valid({ endpoint }), dev).endpointOrigin).toBe(new URL(endpoint).origin);
      expect(refusal(() => validatePushSubscription(valid({ endpoint }), prod)).field).toBe('input.endpoint');
    }
    for (const endpoint of [
      'http://push.example.com/x',
      'http://10.0.0.1/x',
      'ftp://push.example.com/x',
      'javascript:alert(1)',
      'not a url',
      '',
      'https://user:pw@push.example.com/x',
    ]) {
      expect(refusal(() => validatePushSubscription(valid({ endpoint }), dev)).field).toBe('input.endpoint');
    }
  });

  it('in production refuses https endpoints on private, loopback and link-local addresses', () => {
    for (const host of [
      '127.0.0.1',
      'localhost',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '[::1]',
      '[fd00::1]',
      '[fe80::1]',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
    ]) {
      expect(refusal(() => validatePushSubscription(valid({ endpoint: `https://${host}/push` }), prod)).field).toBe('input.endpoint');
    }
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('updates.push.services.mozilla.com')).toBe(false);
    expect(isLoopbackHost('127.5.5.5')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });

  it('never throws anything but a refusal, whatever the strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 1200 }), fc.string({ maxLength: 120 }), fc.string({ maxLength: 50 }), (endpoint, key, secret) => {
        try {
          validatePushSubscription({ endpoint, p256dh: key, auth: secret }, prod);
        } catch (error) {
          expect(error).toBeInstanceOf(PushSubscriptionRefused);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('base64urlBytes', () => {
  it('round-trips any bytes and refuses other alphabets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(base64urlBytes(Buffer.from(bytes).toString('base64url'))?.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
    expect(base64urlBytes('ab+c')).toBeNull();
    expect(base64urlBytes('a')).toBeNull();
  });
});

describe('push messages and answers', () => {
  it('a push names the notification as its tag, links into the web app, and cuts long text', () => {
    const id = '6f1c1d4e-2b1a-4f7e-9c39-1f2d3c4b5a69';
    const message = pushMessage({ id, kind: 'DEPOSIT_SUCCEEDED', title: 'Deposit received', body: 'x'.repeat(5000) });
    expect(message).toMatchObject({ tag: id, url: `/notifications?id=${id}`, title: 'Deposit received', kind: 'DEPOSIT_SUCCEEDED' });
    expect(message.body.length).toBeLessThanOrEqual(600);
    expect(pushTopic(id)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // The longest message still fits one push (4096 bytes encrypted, so about 3993 of payload).
    const longest = pushMessage({ id, kind: 'CAMPAIGN_NFT_MINTED', title: '€'.repeat(500), body: '€'.repeat(5000) });
    expect(Buffer.byteLength(JSON.stringify(longest))).toBeLessThan(3993);
  });

  it('classifies every status: 2xx sent, 404/410 gone, 429/408/5xx/none retried, other 4xx refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        const outcome = pushOutcome(status);
        if (status >= 200 && status < 300) expect(outcome).toBe('SENT');
        else if (status === 404 || status === 410) expect(outcome).toBe('GONE');
        else if (status === 429 || status === 408 || status >= 500) expect(outcome).toBe('RETRY');
        else expect(outcome).toBe('REFUSED');
      }),
    );
    expect(pushOutcome(null)).toBe('RETRY');
  });
});

describe('VAPID settings', () => {
  // Email off: its own production settings are not what this test is about.
  const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://x@127.0.0.1/x', JWT_PUBLIC_KEY: undefined, MAIL_ENABLED: 'false' };
  it('requires a key pair and a subject in production, and the public key to be the private key’s', () => {
    const keys = webpush.generateVAPIDKeys();
    expect(() => loadNotificationsConfig({ ...base })).toThrow(/VAPID_PUBLIC_KEY: is required in production[\s\S]*VAPID_PRIVATE_KEY[\s\S]*VAPID_SUBJECT/);
    const ok = loadNotificationsConfig({
      ...base,
      VAPID_PUBLIC_KEY: keys.publicKey,
      VAPID_PRIVATE_KEY: keys.privateKey,
      VAPID_SUBJECT: 'mailto:ops@vibestream.example',
    });
    expect(ok.VAPID_PUBLIC_KEY).toBe(keys.publicKey);
    const other = webpush.generateVAPIDKeys();
    expect(() =>
      loadNotificationsConfig({
        ...base,
        VAPID_PUBLIC_KEY: other.publicKey,
        VAPID_PRIVATE_KEY: keys.privateKey,
        VAPID_SUBJECT: 'mailto:ops@vibestream.example',
      }),
    ).toThrow(/VAPID_PUBLIC_KEY: is not VAPID_PRIVATE_KEY's public key/);
    expect(() => loadNotificationsConfig({ ...base, VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: 'short', VAPID_SUBJECT: 'mailto:a@b.c' })).toThrow(
      /VAPID_PRIVATE_KEY/,
    );
    expect(() =>
      loadNotificationsConfig({ ...base, VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: 'http://vibestream.example' }),
    ).toThrow(/VAPID_SUBJECT: must be a mailto: address or an https: URL/);
    expect(publicKeyOf(keys.privateKey)).toBe(keys.publicKey);
  });

  it('in development generates a private key once and keeps it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vs-vapid-'));
    try {
      const log = createLogger('vapid-test', 'silent');
      const env = { NODE_ENV: 'development', VIBESTREAM_DATA_DIR: dir };
      const first = await resolveVapidKeys({ NODE_ENV: 'development' }, env, log);
      const second = await resolveVapidKeys({ NODE_ENV: 'development' }, env, log);
      expect(second).toEqual(first);
      expect(Buffer.from(first.publicKey, 'base64url')).toHaveLength(65);
      expect(first.subject).toMatch(/^mailto:/);
      // web-push signs with it.
      expect(webpush.getVapidHeaders('https://push.example.com', first.subject, first.publicKey, first.privateKey, 'aes128gcm').Authorization).toMatch(
        /^vapid t=/,
      );
      await expect(resolveVapidKeys({ NODE_ENV: 'production' }, { NODE_ENV: 'production', VIBESTREAM_DATA_DIR: dir }, log)).rejects.toThrow(
        /VAPID_PRIVATE_KEY/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
