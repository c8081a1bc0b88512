// What every answer must satisfy, whatever was asked: the fuzzer's assertions, one answer at a time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatewayConfigShape } from '@vibestream/gateway/config';
import type { RawOutcome } from './http.ts';

/** The codes the client contract promises (its README's "Error codes used everywhere"). */
export function contractCodes(contractDir: string): string[] {
  const readme = readFileSync(join(contractDir, 'README.md'), 'utf8');
  const paragraph = /Error codes used everywhere:([\s\S]*?)(?:\n- |\n\n)/.exec(readme)?.[1] ?? '';
  const codes = [...paragraph.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]!);
  if (codes.length === 0) throw new Error(`no error codes found in ${contractDir}/README.md`);
  return codes;
}

/** Codes the GraphQL spec's steps (parse, validate, coerce) and Apollo Server raise for malformed requests. */
export const REQUEST_CODES = [
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
];

/**
 * No answer may be larger than this: the default of the gateway's response-size ceiling
 * (MAX_RESPONSE_BYTES in gateway/src/config.ts), or 1 MiB where the gateway has none.
 */
export const RESPONSE_LIMIT_BYTES = gatewayDefault('MAX_RESPONSE_BYTES') ?? 1_048_576;

function gatewayDefault(name: string): number | undefined {
  const setting = (gatewayConfigShape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } } | undefined>)[name];
  const parsed = setting?.safeParse(undefined);
  return parsed?.success && typeof parsed.data === 'number' && parsed.data > 0 ? parsed.data : undefined;
}

/** Text that betrays internals: a stack frame, SQL or a Postgres error, a source path. */
const LEAKS: { check: string; pattern: RegExp }[] = [
  { check: 'stack-trace', pattern: /"stacktrace"|\n\s+at \S|\\n\s+at \S|\bat (?:async )?[\w$.<>[\] ]+ \((?:file:|node:|\/)[^)]*:\d+:\d+\)|node:internal/ },
  {
    check: 'sql',
    pattern:
      /\bSELECT\b|\bINSERT INTO\b|\bUPDATE \S+ SET\b|\bDELETE FROM\b|\bselect\b[^"\n]{0,200}\bfrom\b|relation "|syntax error at or near|column "|invalid input syntax for|violates [\w -]*constraint|duplicate key value|invalid byte sequence|out of range for type|current transaction is aborted/,
  },
  { check: 'file-path', pattern: /\/work\/|node_modules|\.ts:\d|\.ts:|file:\/\// },
];

/** Signs that an answer came from a subgraph's own endpoints, which the outside must never reach. */
const INTERNAL_ENDPOINT = /"_service"\s*:|"_entities"\s*:|"subgraph"\s*:\s*"|vibestream_subgraph_|\bsdl\b[^\n]{0,20}@link|extend schema/;

export interface Violation {
  check: string;
  detail: string;
}

export interface Expectations {
  /** The answer must be exactly this status (a forwarded path that escapes its route: 400). */
  status?: number;
  /** Answers from a subgraph port may show its internals (`_service`, its readiness JSON). */
  internalAllowed?: boolean;
}

export class Oracle {
  private readonly allowed: Set<string>;
  private readonly responseLimit: number;

  constructor(codes: string[], responseLimit = RESPONSE_LIMIT_BYTES) {
    this.allowed = new Set([...codes, ...REQUEST_CODES]);
    this.responseLimit = responseLimit;
  }

  /** Every rule the answer breaks; `sent` is the request's text, so echoed input is not a leak. */
  inspect(outcome: RawOutcome, sent: string, expect: Expectations = {}): Violation[] {
    if ('error' in outcome) return [{ check: outcome.error === 'timeout' ? 'no-answer-in-time' : 'no-answer', detail: outcome.detail }];
    const { status, body } = outcome.response;
    const text = body.toString('utf8');
    const violations: Violation[] = [];
    if (status >= 500) violations.push({ check: 'server-error', detail: `HTTP ${status}` });
    if (expect.status !== undefined && status !== expect.status)
      violations.push({ check: 'escaped-route', detail: `HTTP ${status}, expected ${expect.status}` });
    if (!expect.internalAllowed && INTERNAL_ENDPOINT.test(text) && !INTERNAL_ENDPOINT.test(sent)) {
      violations.push({ check: 'escaped-route', detail: `answer from a subgraph's own endpoint: ${excerpt(text, INTERNAL_ENDPOINT)}` });
    }
    for (const { check, pattern } of LEAKS) {
      const found = pattern.exec(text);
      if (found && !sent.includes(found[0])) violations.push({ check, detail: excerpt(text, pattern) });
    }
    if (body.length > this.responseLimit) violations.push({ check: 'too-large', detail: `${body.length} bytes > ${this.responseLimit}` });
    for (const code of errorCodes(text)) {
      if (code === 'INTERNAL_SERVER_ERROR') violations.push({ check: 'internal-error', detail: excerpt(text, /INTERNAL_SERVER_ERROR/) });
      else if (!this.allowed.has(code)) violations.push({ check: 'unknown-code', detail: `extensions.code ${code}` });
    }
    return dedupe(violations);
  }
}

/** Every `extensions.code` of every error in a JSON answer (a batch's too); `(none)` for an error without one. */
export function errorCodes(text: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const codes: string[] = [];
  const visit = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!value || typeof value !== 'object') return;
    const errors = (value as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return;
    for (const error of errors) {
      const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
      codes.push(typeof code === 'string' ? code : '(none)');
    }
  };
  visit(json);
  return [...new Set(codes)];
}

/** `text` with anything an answer must not show taken out, so generated input echoed back is never a false leak. */
export function harmless(text: string): string {
  let out = text;
  for (const pattern of [...LEAKS.map((l) => l.pattern), INTERNAL_ENDPOINT]) out = out.replace(new RegExp(pattern.source, 'g'), '~');
  return out;
}

function excerpt(text: string, pattern: RegExp): string {
  const at = Math.max(0, text.search(pattern));
  return JSON.stringify(text.slice(Math.max(0, at - 60), at + 140));
}

function dedupe(violations: Violation[]): Violation[] {
  const seen = new Set<string>();
  return violations.filter((v) => (seen.has(v.check) ? false : (seen.add(v.check), true)));
}
