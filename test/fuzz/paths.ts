// Raw request targets against the routes the gateway forwards to a subgraph (/media/, /nft/,
// /webhooks/stripe): dot segments, encoded and double-encoded dots and slashes, backslashes,
// aiming at the subgraphs' own /graphql, /metrics and /readyz; and plausible but wrong media,
// NFT and webhook requests (bad signatures, unknown ids, refused uploads with big bodies).
import fc from 'fast-check';
import { percentEncode, type RawRequest } from './http.ts';
import type { Rng } from './rng.ts';
import { fuzzString } from './values.ts';

export const FORWARDED_PREFIXES = ['/media/', '/nft/', '/webhooks/stripe'];

const DOTS = ['..', '%2e%2e', '%2E%2E', '%2e.', '.%2E', '%252e%252e', '%252E%252e', '%25%32%65%25%32%65', '..;', '%c0%ae%c0%ae', '%u002e%u002e', '.'];
const SLASHES = ['/', '/', '/', '%2f', '%2F', '%252f', '%5c', '%5C', '\\', '//', '/./', '/%2e/'];
const TARGETS = [
  'graphql',
  'metrics',
  'readyz',
  'healthz',
  '.well-known/jwks.json',
  'internal/api-keys/verify',
  'media/stream/x',
  'webhooks/stripe',
  'nft/x/1',
  '',
];

const CRASH_QUERY = '{ _entities(representations: [{__typename: "Song"}, {__typename: "X"}]) { __typename } }';

/**
 * Whether a raw target takes a dot segment, an encoded slash or a backslash into the path, in
 * any encoding (decoded up to three times): what the gateway must refuse with 400 on its
 * forwarded routes.
 */
export function escapesRoute(target: string): boolean {
  let path = target.split('?')[0] ?? '';
  for (let level = 0; level < 4; level++) {
    if (path.includes('\\')) return true;
    if (path.split('/').some((segment) => segment === '.' || segment === '..')) return true;
    if (/%(?:25)*(?:2f|5c)/i.test(path)) return true;
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return false;
    }
    if (decoded === path) return false;
    path = decoded;
  }
  return false;
}

/** A target that climbs out of a forwarded prefix towards one of a subgraph's own endpoints. */
function escapingTarget(rng: Rng): string {
  const prefix = rng.pick(FORWARDED_PREFIXES);
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const middle = rng.chance(0.3) ? `${rng.pick(['stream', 'upload', 'x', 'a/b'])}/` : '';
  const climbs = Array.from({ length: rng.int(1, 3) }, () => `${rng.pick(DOTS)}${rng.pick(SLASHES)}`).join('');
  const query = rng.chance(0.2) ? `?${rng.pick(['query=%7B__typename%7D', 'x=../..', 'sig=1&exp=1'])}` : '';
  return `${base}${middle}${climbs}${rng.pick(TARGETS)}${query}`;
}

/** A target inside a forwarded route, plausible or not. */
function plausibleTarget(rng: Rng, ids: string[]): string {
  const id = () => (ids.length && rng.chance(0.4) ? rng.pick(ids) : rng.chance(0.5) ? rng.of(fc.uuid()) : percentEncode(fuzzString(rng)).slice(0, 200));
  const sig = () =>
    rng.chance(0.7)
      ? `?exp=${rng.int(0, 2_000_000_000)}&sig=${percentEncode(fuzzString(rng)).slice(0, 100)}`
      : rng.pick(['', '?', '?sig=', '?exp=abc&sig=%zz', '?exp=1e99&sig=00']);
  return rng.weighted<() => string>([
    [3, () => `/media/stream/${id()}${sig()}`],
    [3, () => `/media/upload/${id()}${sig()}`],
    [2, () => `/nft/${id()}/${rng.pick(['1', '0', '-1', '99999999999999999999', 'x', ''])}`],
    [2, () => `/webhooks/stripe${rng.pick(['', '/', '/x', '?x=1', '%20'])}`],
    [1, () => `${rng.pick(FORWARDED_PREFIXES)}${percentEncode(fuzzString(rng)).slice(0, 300)}`],
  ])();
}

const METHODS = ['GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'];

/** Only the printable ASCII of `text` (what a header value may carry). */
const printable = (text: string) => [...text].filter((c) => c >= ' ' && c <= '~').join('');

/** A request against a forwarded route; `expectStatus` is 400 when the target must be refused. */
export function forwardedRouteRequest(rng: Rng, ids: string[], now: number): { request: RawRequest; expectStatus?: number } {
  const target = rng.chance(0.5) ? escapingTarget(rng) : plausibleTarget(rng, ids);
  const method =
    target.startsWith('/webhooks/stripe') && rng.chance(0.7) ? 'POST' : target.startsWith('/media/upload') && rng.chance(0.6) ? 'PUT' : rng.pick(METHODS);
  const headers: [string, string][] = [];
  let body: Buffer | undefined;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const kind = rng.weighted([
      [3, 'graphql'],
      [2, 'webhook'],
      [2, 'bytes'],
      [1, 'big'],
    ] as const);
    if (kind === 'graphql') {
      headers.push(['content-type', 'application/json']);
      body = Buffer.from(JSON.stringify({ query: rng.pick([CRASH_QUERY, '{ _service { sdl } }', '{ __typename }', '{ __schema { queryType { name } } }']) }));
    } else if (kind === 'webhook') {
      headers.push(['content-type', 'application/json']);
      headers.push(['stripe-signature', rng.pick(['', 't=1,v1=00', `t=${Math.floor(now / 1000)},v1=${'ab'.repeat(32)}`, printable(fuzzString(rng))])]);
      body = Buffer.from(
        JSON.stringify({
          id: `evt_${rng.int(0, 1e9)}`,
          type: rng.pick(['checkout.session.completed', 'invoice.paid', 'customer.subscription.deleted', 'x']),
          data: { object: {} },
        }),
      );
    } else if (kind === 'bytes') {
      headers.push(['content-type', rng.pick(['audio/wav', 'application/octet-stream', 'audio/mpeg'])]);
      body = Buffer.from(rng.of(fc.uint8Array({ maxLength: 4096 })));
    } else {
      // A big upload the route refuses at once: the gateway must pass the refusal through, not hang or 502.
      headers.push(['content-type', 'audio/wav']);
      body = Buffer.alloc(rng.int(1, 3) * 1_048_576 + rng.int(0, 1000), 0x52);
    }
  }
  return {
    request: { method, path: target, headers, ...(body ? { body } : {}) },
    ...(escapesRoute(target) && target.startsWith('/') ? { expectStatus: 400 } : {}),
  };
}
