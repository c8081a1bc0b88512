// A local Web Push service, the peer a push sender talks to, run for real inside a test: an HTTP
// server that takes RFC 8030 push requests at per-subscription endpoints, checks each request's
// VAPID authorization (RFC 8292: an ES256 JWT verified against the key in `k`, its `aud` the
// endpoint's origin, `exp` within 24 hours, `sub` a mailto: or https: URL) and decrypts the
// aes128gcm body (RFC 8291) with the subscription's own private key and auth secret, as a browser
// would. It also plays the browser: `createSubscription()` makes the key pair and auth secret a
// PushManager.subscribe would, and the test registers them with the server under test.
import { createECDH, createDecipheriv, hkdfSync, randomBytes, randomUUID, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';

/** A subscription as a browser's `PushSubscription.toJSON()` gives it: what the server registers. */
export interface BrowserPushSubscription {
  endpoint: string;
  /** The subscription's P-256 public key, uncompressed (65 bytes), base64url. */
  p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  auth: string;
  /** The subscription's private key (32 bytes, base64url): the browser's secret, here for tests that decrypt themselves. */
  privateKey: string;
}

/** One push message the service accepted (201), decrypted. */
export interface ReceivedPush {
  endpoint: string;
  /** RFC 8030 headers as the sender set them. */
  ttl: number;
  urgency: string | null;
  topic: string | null;
  /** The encrypted body as it arrived (aes128gcm). */
  body: Buffer;
  /** The decrypted payload. */
  payload: Buffer;
  /** The decrypted payload as UTF-8 text. */
  text: string;
  /** The VAPID JWT's claims and the sender's public key (`k`). */
  vapid: VapidClaims & { publicKey: string };
  receivedAt: Date;
}

/** A request the service refused, and why (the status it answered). */
export interface RefusedPush {
  endpoint: string;
  status: number;
  reason: string;
}

export interface VapidClaims {
  aud: string;
  exp: number;
  sub: string;
}

export interface LocalPushService {
  /** The service's origin, e.g. http://127.0.0.1:40123. */
  url: string;
  /**
   * A new subscription, as PushManager.subscribe makes one: a fresh P-256 key pair and 16-byte auth
   * secret, and an endpoint on this service. With `applicationServerKey`, only requests signed by
   * that VAPID key are accepted for it (403 otherwise), as browsers restrict subscriptions.
   */
  createSubscription(options?: { applicationServerKey?: string }): BrowserPushSubscription;
  /** The subscription is gone (the browser unsubscribed): its endpoint answers 410 from now on. */
  unsubscribe(endpoint: string): void;
  /** Answers `status` (404, 410, 429, 500 ...) to the next `times` requests at `endpoint` (every request when `times` is unset). */
  respondWith(endpoint: string, status: number, options?: { times?: number }): void;
  /** Messages accepted, oldest first; only those for `endpoint` when given. */
  messages(endpoint?: string): ReceivedPush[];
  /** Requests refused, oldest first (bad authorization, bad body, a forced status ...). */
  refused(endpoint?: string): RefusedPush[];
  /** How many requests reached `endpoint` (any answer). */
  requestCount(endpoint?: string): number;
  /** Resolves with the first message for `endpoint` accepted after `count` earlier ones. */
  waitForPush(endpoint: string, options?: { count?: number; timeoutMs?: number }): Promise<ReceivedPush>;
  close(): Promise<void>;
}

/** The most a push message body may be (RFC 8291 section 4: 4096 octets). */
export const MAX_PUSH_BODY_BYTES = 4096;
const MAX_VAPID_LIFETIME_SECONDS = 24 * 60 * 60;
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);

interface Subscription {
  ecdh: ECDH;
  publicKey: Buffer;
  auth: Buffer;
  applicationServerKey: string | null;
  gone: boolean;
  forced: { status: number; remaining: number | null } | null;
}

/** A push request the service refuses: the status it answers and why. */
export class PushRefusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'PushRefusal';
    this.status = status;
  }
}

const b64 = (value: string) => Buffer.from(value, 'base64url');

/**
 * Checks a request's `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292) for `audience` (the
 * endpoint's origin): answers the claims and the key, or throws a PushRefusal (401) saying what is wrong.
 */
export async function verifyVapidAuthorization(header: string | undefined, audience: string, now = Date.now()): Promise<VapidClaims & { publicKey: string }> {
  if (!header) throw new PushRefusal(401, 'no Authorization header');
  const match = /^vapid\s+(.+)$/i.exec(header.trim());
  if (!match) throw new PushRefusal(401, 'Authorization is not the vapid scheme');
  const params = new Map<string, string>();
  for (const part of match[1]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const token = params.get('t');
  const k = params.get('k');
  if (!token || !k) throw new PushRefusal(401, 'vapid authorization needs t and k');
  if (!/^[A-Za-z0-9_-]+$/.test(k)) throw new PushRefusal(401, 'k is not base64url');
  const point = b64(k);
  if (point.length !== 65 || point[0] !== 4) throw new PushRefusal(401, 'k is not an uncompressed P-256 point');
  let header_: ReturnType<typeof decodeProtectedHeader>;
  try {
    header_ = decodeProtectedHeader(token);
  } catch {
    throw new PushRefusal(401, 'the JWT is malformed');
  }
  if (header_.alg !== 'ES256') throw new PushRefusal(401, `the JWT's alg is ${String(header_.alg)}, not ES256`);
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, 'ES256');
  } catch {
    throw new PushRefusal(401, 'k is not a point on P-256');
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ['ES256'], audience, currentDate: new Date(now), requiredClaims: ['exp', 'sub', 'aud'] }));
  } catch (error) {
    throw new PushRefusal(401, `the JWT does not verify: ${(error as Error).message}`);
  }
  const exp = payload.exp;
  const sub = payload.sub;
  if (typeof exp !== 'number' || exp > now / 1000 + MAX_VAPID_LIFETIME_SECONDS) throw new PushRefusal(401, 'exp is more than 24 hours ahead');
  if (typeof sub !== 'string' || !/^(mailto:.+|https:\/\/.+)$/.test(sub)) throw new PushRefusal(401, 'sub is neither a mailto: nor an https: URL');
  return { aud: audience, exp, sub, publicKey: k };
}

/**
 * Decrypts an aes128gcm push message body (RFC 8188 framing, RFC 8291 keys) with the receiving
 * subscription's keys: its P-256 private key (32 bytes), public key (65 bytes) and auth secret.
 */
export function decryptPushPayload(body: Buffer, keys: { privateKey: Buffer | string; publicKey: Buffer | string; auth: Buffer | string }): Buffer {
  const buf = (v: Buffer | string) => (typeof v === 'string' ? b64(v) : v);
  const uaPublic = buf(keys.publicKey);
  const auth = buf(keys.auth);
  if (body.length < 21 + 65 + 17) throw new PushRefusal(400, 'the body is too short for an aes128gcm header and one record');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (idlen !== 65) throw new PushRefusal(400, `keyid is ${idlen} bytes, not a 65-byte P-256 public key`);
  const asPublic = body.subarray(21, 21 + idlen);
  if (rs < 18) throw new PushRefusal(400, `record size ${rs} is below 18`);
  const ciphertext = body.subarray(21 + idlen);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(buf(keys.privateKey));
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = ecdh.computeSecret(asPublic);
  } catch {
    throw new PushRefusal(400, "the sender's key is not a point on P-256");
  }
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const plain: Buffer[] = [];
  let seq = 0;
  for (let offset = 0; offset < ciphertext.length; offset += rs, seq++) {
    const record = ciphertext.subarray(offset, offset + rs);
    if (record.length < 17) throw new PushRefusal(400, 'a record is too short');
    const iv = Buffer.from(nonce);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ seq) >>> 0, 8); // the record's sequence number XORed into the nonce (RFC 8188 2.3)
    const decipher = createDecipheriv('aes-128-gcm', cek, iv);
    decipher.setAuthTag(record.subarray(record.length - 16));
    let data: Buffer;
    try {
      data = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    } catch {
      throw new PushRefusal(400, 'the body does not decrypt with the subscription keys');
    }
    const last = offset + rs >= ciphertext.length;
    let end = data.length - 1;
    while (end >= 0 && data[end] === 0) end--;
    if (end < 0) throw new PushRefusal(400, 'a record has no padding delimiter');
    if (data[end] !== (last ? 2 : 1)) throw new PushRefusal(400, `record ${seq} has the wrong padding delimiter`);
    plain.push(data.subarray(0, end));
  }
  return Buffer.concat(plain);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so the sender gets the answer rather than a reset.
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(new PushRefusal(413, `the body is over ${limit} bytes`)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/** Starts a local push service on 127.0.0.1 (a free port unless `port` is given). */
export async function startPushService(options: { port?: number; host?: string } = {}): Promise<LocalPushService> {
  const host = options.host ?? '127.0.0.1';
  const subscriptions = new Map<string, Subscription>();
  const accepted: ReceivedPush[] = [];
  const refusals: RefusedPush[] = [];
  const requests = new Map<string, number>();
  const waiters = new Set<() => void>();
  let origin = '';

  const notify = () => {
    for (const waiter of waiters) waiter();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const endpoint = `${origin}${path}`;
    requests.set(endpoint, (requests.get(endpoint) ?? 0) + 1);
    try {
      const match = /^\/push\/([A-Za-z0-9_-]{1,64})$/.exec(path);
      const subscription = match ? subscriptions.get(match[1]!) : undefined;
      if (req.method !== 'POST') throw new PushRefusal(405, `${req.method} is not a push request`);
      if (!subscription) throw new PushRefusal(404, 'no such subscription');
      if (subscription.forced) {
        const { status, remaining } = subscription.forced;
        if (remaining !== null && remaining <= 1) subscription.forced = null;
        else if (remaining !== null) subscription.forced = { status, remaining: remaining - 1 };
        throw new PushRefusal(status, `told to answer ${status}`);
      }
      if (subscription.gone) throw new PushRefusal(410, 'the subscription has expired');
      const vapid = await verifyVapidAuthorization(req.headers.authorization, origin);
      if (subscription.applicationServerKey !== null && vapid.publicKey !== subscription.applicationServerKey) {
        throw new PushRefusal(403, "the VAPID key is not the subscription's applicationServerKey");
      }
      const ttlHeader = req.headers.ttl;
      if (typeof ttlHeader !== 'string' || !/^\d{1,10}$/.test(ttlHeader)) throw new PushRefusal(400, 'TTL header missing or not a number of seconds');
      const urgency = typeof req.headers.urgency === 'string' ? req.headers.urgency : null;
      if (urgency !== null && !URGENCIES.has(urgency)) throw new PushRefusal(400, `Urgency ${urgency} is not one of RFC 8030's`);
      const topic = typeof req.headers.topic === 'string' ? req.headers.topic : null;
      if (topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) throw new PushRefusal(400, 'Topic is not up to 32 base64url characters');
      const body = await readBody(req, MAX_PUSH_BODY_BYTES);
      if (body.length > 0 && req.headers['content-encoding'] !== 'aes128gcm') throw new PushRefusal(415, 'Content-Encoding is not aes128gcm');
      const payload =
        body.length === 0
          ? Buffer.alloc(0)
          : decryptPushPayload(body, { privateKey: subscription.ecdh.getPrivateKey(), publicKey: subscription.publicKey, auth: subscription.auth });
      const message: ReceivedPush = {
        endpoint,
        ttl: Number(ttlHeader),
        urgency,
        topic,
        body,
        payload,
        text: payload.toString('utf8'),
        vapid,
        receivedAt: new Date(),
      };
      accepted.push(message);
      res.writeHead(201, { location: `${origin}/message/${randomUUID()}`, 'content-length': '0' });
      res.end();
      notify();
    } catch (error) {
      const refusal = error instanceof PushRefusal ? error : new PushRefusal(500, (error as Error).message);
      refusals.push({ endpoint, status: refusal.status, reason: refusal.message });
      if (!res.headersSent) {
        const text = JSON.stringify({ code: refusal.status, reason: refusal.message });
        res.writeHead(refusal.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), connection: 'close' });
        res.end(text);
      }
      notify();
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://${host}:${port}`;

  const idOf = (endpoint: string) => {
    const prefix = `${origin}/push/`;
    const id = endpoint.startsWith(prefix) ? endpoint.slice(prefix.length) : '';
    const subscription = subscriptions.get(id);
    if (!subscription) throw new Error(`${endpoint} is not a subscription of this push service`);
    return subscription;
  };

  return {
    url: origin,
    createSubscription(subscribeOptions = {}) {
      const ecdh = createECDH('prime256v1');
      const publicKey = ecdh.generateKeys();
      const auth = randomBytes(16);
      const id = randomBytes(24).toString('base64url');
      subscriptions.set(id, { ecdh, publicKey, auth, applicationServerKey: subscribeOptions.applicationServerKey ?? null, gone: false, forced: null });
      return {
        endpoint: `${origin}/push/${id}`,
        p256dh: publicKey.toString('base64url'),
        auth: auth.toString('base64url'),
        privateKey: ecdh.getPrivateKey().toString('base64url'),
      };
    },
    unsubscribe(endpoint) {
      idOf(endpoint).gone = true;
    },
    respondWith(endpoint, status, respondOptions = {}) {
      idOf(endpoint).forced = { status, remaining: respondOptions.times ?? null };
    },
    messages: (endpoint) => accepted.filter((m) => endpoint === undefined || m.endpoint === endpoint),
    refused: (endpoint) => refusals.filter((r) => endpoint === undefined || r.endpoint === endpoint),
    requestCount: (endpoint) => (endpoint === undefined ? [...requests.values()].reduce((a, b) => a + b, 0) : (requests.get(endpoint) ?? 0)),
    waitForPush(endpoint, waitOptions = {}) {
      const count = waitOptions.count ?? 0;
      const timeoutMs = waitOptions.timeoutMs ?? 15_000;
      return new Promise<ReceivedPush>((resolve, reject) => {
        const check = () => {
          const found = accepted.filter((m) => m.endpoint === endpoint)[count];
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const why = refusals.filter((r) => r.endpoint === endpoint).map((r) => `${r.status} ${r.reason}`);
          reject(new Error(`no push message #${count + 1} for ${endpoint} within ${timeoutMs} ms${why.length ? ` (refused: ${why.join('; ')})` : ''}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
