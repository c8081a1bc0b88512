// Values for GraphQL inputs, from the schema's types: valid ones (known ids, well-formed emails,
// addresses, amounts) to reach deep into resolvers, and mutated ones (wrong types, edge numbers,
// odd strings, missing and extra fields) to try their boundaries.
import fc from 'fast-check';
import { isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLInputType, type GraphQLNamedType } from 'graphql';
import { harmless } from './oracle.ts';
import type { Rng } from './rng.ts';

/** Values the running stack knows (fixture ids by entity type, tokens for refresh), so valid input exists. */
export interface Known {
  ids: Record<string, string[]>;
  refreshTokens: string[];
  emails: string[];
}

export interface ValueContext {
  rng: Rng;
  known: Known;
  /** The run's clock (ms): dates are made relative to it, so a seed makes the same requests within a run. */
  now: number;
}

/** Which fixture ids suit an argument or field, by its name. */
const ID_KINDS: [RegExp, string][] = [
  [/^songId$/i, 'Song'],
  [/playlist/i, 'Playlist'],
  [/offering/i, 'ShareOffering'],
  [/^orderId$/i, 'Order'],
  [/session/i, 'ListenSession'],
  [/campaign/i, 'Campaign'],
  [/^userId$/i, 'User'],
  [/deposit/i, 'Deposit'],
  [/album/i, 'Album'],
  [/artist/i, 'Artist'],
  [/plan/i, 'Plan'],
  [/^ids$|notification/i, 'Notification'],
];

const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '%',
  '_',
  '%_%',
  "'",
  '"',
  '\\',
  "' OR '1'='1",
  "'); --",
  '; --',
  '$1',
  '${x}',
  '{{x}}',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '\ud800',
  '\udfff\ud800',
  '\u{1f3b5}'.repeat(64),
  'e\u0301'.repeat(40),
  '\r\n\t\f\v',
  '../../etc/passwd',
  '%2e%2e%2f',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  'true',
  '-1',
  '1e999',
  '0x',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  ' 00000000-0000-4000-8000-000000000000 ',
  '{00000000-0000-4000-8000-000000000000}',
  '00000000-0000-4000-8000-00000000000g',
  '00000000000040008000000000000000',
  'U29uZzox',
  'Song:1',
  'x'.repeat(256),
  'x'.repeat(10_000),
];

const LONG_NUMBERS = [
  '0',
  '1',
  '-1',
  '9007199254740993',
  '115792089237316195423570985008687907853269984665640564039457584007913129639936',
  '-0',
  '1e18',
  '0x10',
  '1.5',
  ' 1',
  '١٢٣',
];

/** A random string, sometimes one of the known troublemakers; never text an answer must not echo. */
export function fuzzString(rng: Rng): string {
  const s = rng.weighted<() => string>([
    [4, () => rng.of(fc.string({ maxLength: 24 }))],
    [2, () => rng.of(fc.string({ unit: 'grapheme', maxLength: 24 }))],
    [2, () => rng.of(fc.string({ unit: 'binary', maxLength: 24 }))],
    [4, () => rng.pick(EDGE_STRINGS)],
    [1, () => rng.of(fc.uuid())],
    [1, () => rng.of(fc.string({ unit: 'grapheme-ascii', minLength: 1000, maxLength: 5000 }))],
  ])();
  return harmless(s);
}

export function words(rng: Rng): string {
  return rng
    .of(fc.array(fc.constantFrom('sine', 'dawn', 'beat', 'lo', 'fi', 'song', 'night', 'pop', 'Rock', 'jazz', 'é', 'ß'), { minLength: 1, maxLength: 4 }))
    .join(' ');
}

const hex = (rng: Rng, bytes: number) =>
  rng.of(fc.uint8Array({ minLength: bytes, maxLength: bytes })).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A plausible string for an argument or field of this name (so the resolver gets past its first check). */
function validString(ctx: ValueContext, name: string): string {
  const { rng, known } = ctx;
  const n = name.toLowerCase();
  if (n.includes('email')) return rng.chance(0.3) && known.emails.length ? rng.pick(known.emails) : `fuzz-${rng.int(0, 1e9)}@example.com`;
  if (n.includes('password')) return rng.chance(0.7) ? 'a-long-password' : fuzzString(rng);
  if (n.includes('refreshtoken')) return rng.chance(0.5) && known.refreshTokens.length ? rng.pick(known.refreshTokens) : hex(rng, 32);
  if (n.includes('txhash')) return `0x${hex(rng, 32)}`;
  if (n.includes('signature')) return rng.chance(0.5) ? `0x${hex(rng, 65)}` : Array.from({ length: 88 }, () => rng.pick([...BASE58])).join('');
  if (n.includes('address') || n === 'recipient')
    return rng.chance(0.6) ? `0x${hex(rng, 20)}` : Array.from({ length: 44 }, () => rng.pick([...BASE58])).join('');
  if (n.includes('commitment')) return rng.of(fc.bigInt({ min: 0n, max: 2n ** 254n })).toString();
  if (n.includes('contenttype')) return rng.pick(['audio/wav', 'audio/mpeg', 'audio/flac', 'image/png', 'text/plain', 'audio/wav; charset=x']);
  if (n.includes('url')) return rng.pick(['https://example.com/x', 'http://127.0.0.1:1/', 'javascript:alert(1)', 'file:///etc/hosts', 'not a url']);
  if (n === 'after' || n.includes('cursor')) return rng.chance(0.5) ? Buffer.from(fuzzString(rng)).toString('base64') : fuzzString(rng);
  if (n === 'query') return words(rng);
  if (n.includes('genre')) return rng.pick(['Pop', 'Rock', 'Jazz', 'pop', '']);
  if (n.includes('label') || n.includes('name') || n.includes('title') || n.includes('description') || n.includes('bio'))
    return rng.chance(0.7) ? words(rng) : fuzzString(rng);
  return fuzzString(rng);
}

function idFor(ctx: ValueContext, name: string): string {
  const { rng, known } = ctx;
  const kind = ID_KINDS.find(([pattern]) => pattern.test(name))?.[1];
  const own = kind ? (known.ids[kind] ?? []) : [];
  const all = Object.values(known.ids).flat();
  return rng.weighted<() => string>([
    [own.length ? 6 : 0, () => rng.pick(own)],
    [all.length ? 2 : 0, () => rng.pick(all)],
    [2, () => rng.of(fc.uuid())],
    [1, () => fuzzString(rng)],
    [1, () => String(rng.int(-5, 1e6))],
  ])();
}

function validInt(rng: Rng, name: string): number {
  const n = name.toLowerCase();
  if (n.includes('cents'))
    return rng.weighted([
      [3, () => rng.int(500, 20_000)],
      [1, () => rng.int(0, 2_000_000)],
    ] as const)();
  if (n.includes('bps')) return rng.int(0, 10_000);
  if (n.includes('seconds') || n.includes('position')) return rng.int(0, 600);
  return rng.weighted([
    [5, () => rng.int(0, 25)],
    [2, () => rng.int(0, 150)],
    [1, () => rng.pick([0, 1, 100, 101, 500, 501])],
  ] as const)();
}

function validScalar(ctx: ValueContext, type: GraphQLNamedType, name: string): unknown {
  const { rng } = ctx;
  switch (type.name) {
    case 'ID':
      return idFor(ctx, name);
    case 'String':
      return validString(ctx, name);
    case 'Int':
      return validInt(rng, name);
    case 'Float':
      return rng.of(fc.double({ min: -1e6, max: 1e6, noNaN: true }));
    case 'Boolean':
      return rng.chance(0.5);
    case 'DateTime':
      return new Date(ctx.now + rng.int(-86_400, 30 * 86_400) * 1000).toISOString();
    case 'BigInt':
      return rng.chance(0.7) ? rng.of(fc.bigInt({ min: 0n, max: 10n ** 21n })).toString() : rng.pick(LONG_NUMBERS);
    case 'JSON':
      return rng.chance(0.5) ? grothLike(rng) : rng.of(fc.jsonValue({ maxDepth: 3 }));
    default:
      return fuzzString(rng);
  }
}

/** Something shaped like a Groth16 proof, with random numbers. */
function grothLike(rng: Rng): unknown {
  const n = () => (rng.chance(0.9) ? rng.of(fc.bigInt({ min: 0n, max: 2n ** 256n })).toString() : fuzzString(rng));
  return {
    pi_a: [n(), n(), '1'],
    pi_b: [
      [n(), n()],
      [n(), n()],
      ['1', '0'],
    ],
    pi_c: [n(), n(), '1'],
    protocol: rng.pick(['groth16', 'plonk']),
    curve: 'bn128',
  };
}

/** A value of the wrong type or an edge value, for any input position. */
export function wrongValue(rng: Rng, depth = 0): unknown {
  return rng.weighted<() => unknown>([
    [3, () => fuzzString(rng)],
    [2, () => rng.pick([0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 + 1, 1.5, -0.0001, 1e308, -1e308, 4.9e-324])],
    [1, () => rng.chance(0.5)],
    [2, () => null],
    [1, () => (depth < 3 ? rng.of(fc.array(fc.constant(null), { maxLength: 3 })).map(() => wrongValue(rng, depth + 1)) : [])],
    [1, () => (depth < 3 ? { [rng.pick(['id', 'x', 'input', '__typename', 'toString', 'constructor'])]: wrongValue(rng, depth + 1) } : {})],
    [1, () => JSON.parse('{"__proto__":{"isAdmin":true,"roles":["ADMIN"]}}') as unknown],
    [1, () => nested(rng.int(50, 400))],
  ])();
}

/** Arrays nested n deep: [[[...]]]. */
function nested(n: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < n; i++) value = [value];
  return value;
}

/**
 * A value for an input of `type` named `name`. `fuzzy` mutates some of it: a node becomes a wrong
 * value, a list grows long, an input object loses a required field or gains an unknown one.
 */
export function inputValue(ctx: ValueContext, type: GraphQLInputType, name: string, fuzzy: boolean, depth = 0): unknown {
  const { rng } = ctx;
  if (fuzzy && rng.chance(0.2)) return wrongValue(rng);
  if (isNonNullType(type)) return inputValue(ctx, type.ofType, name, fuzzy, depth);
  if (fuzzy && rng.chance(0.05)) return null;
  if (isListType(type)) {
    const length = fuzzy
      ? rng.weighted([
          [6, () => rng.int(0, 4)],
          [1, () => rng.int(90, 600)],
        ] as const)()
      : rng.int(0, 3);
    // GraphQL takes a single value where a list is expected.
    if (fuzzy && rng.chance(0.1)) return inputValue(ctx, type.ofType, name, fuzzy, depth + 1);
    return Array.from({ length }, () => inputValue(ctx, type.ofType, name, fuzzy && rng.chance(0.3), depth + 1));
  }
  if (isEnumType(type)) {
    const values = type.getValues().map((v) => v.name);
    return fuzzy && rng.chance(0.2) ? rng.pick([values[0]!.toLowerCase(), 'ADMIN', 'NOPE', '', 1]) : rng.pick(values);
  }
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const field of Object.values(type.getFields())) {
      const required = isNonNullType(field.type) && field.defaultValue === undefined;
      if (fuzzy && required && rng.chance(0.08)) continue;
      if (!required && rng.chance(0.5)) continue;
      value[field.name] = depth > 4 ? null : inputValue(ctx, field.type, field.name, fuzzy && rng.chance(0.4), depth + 1);
    }
    if (fuzzy && rng.chance(0.08)) value[rng.pick(['id', 'userId', 'role', 'roles', 'status', 'unknownField'])] = wrongValue(rng);
    if (fuzzy && rng.chance(0.03))
      Object.defineProperty(value, '__proto__', { value: { roles: ['ADMIN'] }, enumerable: true, configurable: true, writable: true });
    return value;
  }
  if (isScalarType(type)) return validScalar(ctx, type, name);
  return wrongValue(rng);
}

/** `value` as a GraphQL literal for a position of `type` (enum values bare); any JS value prints. */
export function literal(value: unknown, type?: GraphQLInputType): string {
  const named = type && namedOf(type);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return named && isEnumType(named) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '0';
  if (typeof value === 'boolean') return String(value);
  const inner = type && (isNonNullType(type) ? type.ofType : type);
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, inner && isListType(inner) ? inner.ofType : undefined)).join(', ')}]`;
  const fields = named && isInputObjectType(named) ? named.getFields() : {};
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${/^[_A-Za-z][_0-9A-Za-z]*$/.test(k) ? k : '_'}: ${literal(v, fields[k]?.type)}`)
    .join(', ')}}`;
}

function namedOf(type: GraphQLInputType): GraphQLNamedType {
  let t: GraphQLInputType = type;
  while (isNonNullType(t) || isListType(t)) t = t.ofType;
  return t;
}
