// Requests that are wrong as HTTP rather than as GraphQL: malformed and oddly shaped JSON,
// wrong content types, odd methods, GET with parameters, huge and odd headers, bodies over the
// size limit, chunked bodies, batches.
import fc from 'fast-check';
import { percentEncode, type RawRequest } from './http.ts';
import type { Rng } from './rng.ts';
import { fuzzString } from './values.ts';

const VALID = JSON.stringify({ query: '{ __typename }' });

function jsonBody(rng: Rng): string {
  return rng.weighted<() => string>([
    [2, () => VALID.slice(0, rng.int(0, VALID.length - 1))],
    [1, () => '{'],
    [1, () => ''],
    [1, () => 'null'],
    [1, () => '[]'],
    [1, () => '"{ __typename }"'],
    [1, () => '123'],
    [1, () => `\ufeff${VALID}`],
    [1, () => '{"query":"{ __typename }","query":"{ me { id } }"}'],
    [1, () => '{"query": 5}'],
    [1, () => '{"query": {"kind": "Document"}}'],
    [1, () => '{"query": ["{ __typename }"]}'],
    [1, () => '{"query":"{ __typename }","variables":"{}"}'],
    [1, () => '{"query":"{ __typename }","variables":[1]}'],
    [1, () => '{"query":"{ __typename }","operationName":5}'],
    [1, () => '{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}'],
    [1, () => '{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"4f1c6f4b1c5a2f59a5d1d3d7b5a0c8e7f3a9b2c1d0e9f8a7b6c5d4e3f2a1b0c9"}}}'],
    [1, () => JSON.stringify({ documentId: rng.pick(['sha256:', 'sha256:00', 'md5:x', '', 5, null]) })],
    [1, () => JSON.stringify([{ query: '{ __typename }' }, { query: '{ me { id } }' }])],
    [1, () => `{"query":"{ __typename }","variables":${'['.repeat(rng.int(1000, 20_000))}${']'.repeat(rng.int(0, 10))}}`],
    [1, () => `{"query":"${'{ a: __typename '.repeat(rng.int(1, 40))}"}`],
    [1, () => `{"query":"query { ${'__typename '.repeat(rng.int(1000, 20_000))}}"}`],
    [1, () => `{"query":"{ __typename }","variables":{"x":1e999999}}`],
    [1, () => `{"query":"${'\\u0000'.repeat(10)}"}`],
    [1, () => Buffer.from(rng.of(fc.uint8Array({ maxLength: 512 }))).toString('latin1')],
    [1, () => JSON.stringify({ query: fuzzString(rng) })],
  ])();
}

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/graphql',
  'application/graphql-response+json',
  'text/plain',
  'text/plain;charset=UTF-8',
  'multipart/form-data; boundary=xyz',
  'application/x-www-form-urlencoded',
  '*/*',
  'application/json, text/plain',
  `application/json; ${'x=y; '.repeat(200)}`,
  '',
];

const AUTHORIZATIONS = [
  'Bearer',
  'Bearer ',
  'Bearer  x',
  'bearer x.y.z',
  'Basic dXNlcjpwYXNz',
  'Bearer e30.e30.',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZXMiOlsiQURNSU4iXX0.',
  `Bearer ${'a'.repeat(8000)}`,
  'Token abc',
  'Bearer a.b.c, Bearer d.e.f',
];

/** Headers that are odd but well formed (Node refuses bad bytes before any handler, so those go raw too). */
function oddHeaders(rng: Rng): [string, string][] {
  return rng.weighted<() => [string, string][]>([
    [3, () => []],
    [2, () => [['authorization', rng.pick(AUTHORIZATIONS)]]],
    [1, () => [['x-forwarded-for', rng.pick(['1.2.3.4', '1.2.3.4, 5.6.7.8', 'garbage', '::1', '999.999.999.999', `${'1.1.1.1, '.repeat(500)}1.1.1.1`, ''])]]],
    [1, () => [['x-request-id', rng.pick(['', 'x'.repeat(5000), '../../x', 'id with spaces', '%00'])]]],
    [1, () => [['traceparent', rng.pick(['00-00000000000000000000000000000000-0000000000000000-00', 'ff-x-y-z', '00-' + 'a'.repeat(500)])]]],
    [1, () => [['x-huge', 'h'.repeat(rng.pick([8_000, 17_000, 70_000]))]]],
    [1, () => Array.from({ length: rng.int(100, 300) }, (_, i): [string, string] => [`x-h${i}`, 'v'])],
    [
      1,
      () => [
        ['apollo-require-preflight', 'true'],
        ['x-apollo-operation-name', fuzzString(rng).replace(/[^\x20-\x7e]/g, '')],
      ],
    ],
    [1, () => [['content-length', '0']]],
    [1, () => [['x-api-key', rng.pick(['', 'vs_live_x', 'a'.repeat(500)])]]],
    [
      1,
      () => [['accept', rng.pick(['text/html', 'multipart/mixed; deferSpec=20220824', 'application/graphql-response+json', 'text/event-stream', '*/*;q=0'])]],
    ],
  ])();
}

/** A malformed or odd request to a GraphQL endpoint at `path`. */
export function malformedRequest(rng: Rng, path: string): RawRequest {
  const method = rng.weighted([
    [10, 'POST'],
    [3, 'GET'],
    [1, 'HEAD'],
    [1, 'PUT'],
    [1, 'DELETE'],
    [1, 'PATCH'],
    [1, 'OPTIONS'],
    [1, 'TRACE'],
    [1, 'BREW'],
    [1, 'get'],
  ] as const);
  const headers: [string, string][] = [];
  const contentType = rng.pick(CONTENT_TYPES);
  if (contentType) headers.push(['content-type', contentType]);
  headers.push(...oddHeaders(rng));
  if (method === 'GET' || method === 'HEAD') {
    const query = rng.pick(['{ __typename }', 'mutation { logout }', 'query { me { id } }', '{', fuzzString(rng)]);
    const search = rng.weighted<() => string>([
      [3, () => `?query=${percentEncode(query)}`],
      [1, () => `?query=${percentEncode(query)}&variables=${percentEncode(rng.pick(['{', '[]', '{"a":1}', 'null']))}`],
      [1, () => `?query=${percentEncode(query)}&extensions=${percentEncode('{"persistedQuery":{"version":1,"sha256Hash":"x"}}')}`],
      [1, () => `?query=a&query=b`],
      [1, () => `?${'a=b&'.repeat(rng.int(100, 3000))}`],
      [1, () => ''],
    ])();
    return { method, path: `${path}${search}`, headers };
  }
  const shape = rng.weighted([
    [12, 'json'],
    [1, 'oversized'],
    [1, 'chunked'],
    [1, 'chunked-bad'],
  ] as const);
  if (shape === 'oversized') {
    const filler = 'x'.repeat(rng.int(1_048_577, 2_500_000));
    return { method, path, headers, body: Buffer.from(JSON.stringify({ query: '{ __typename }', variables: { filler } })) };
  }
  const text = jsonBody(rng);
  if (shape === 'chunked' || shape === 'chunked-bad') {
    headers.push(['transfer-encoding', 'chunked']);
    const chunk = Buffer.from(text);
    // A broken chunk size is refused at once (a short chunk would only make the server wait).
    const trailer = shape === 'chunked' ? '0\r\n\r\n' : rng.pick(['zz\r\n\r\n', '-1\r\n\r\n', '0x5\r\n\r\n']);
    return { method, path, headers, body: Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from(`\r\n${trailer}`)]) };
  }
  return { method, path, headers, body: Buffer.from(text) };
}
