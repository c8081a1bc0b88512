/**
 * The path of a request as the gateway routes it: decoded and normalised once, before any route
 * is chosen, so that no spelling of a path (`..`, `%2e%2e`, `%252e%252e`, `%2f`, `\`) can mean
 * one route to the gateway and another to the service it forwards to.
 */
export interface RequestPath {
  /** The decoded segments: `/media/stream/abc` is `['media', 'stream', 'abc']`; `/` is `['']`. */
  segments: string[];
  /** The decoded path, `/` + segments joined by `/`. */
  path: string;
  /** The query string as sent, with its `?` (or empty). */
  search: string;
}

export type RequestPathResult = RequestPath | { error: string };

/** Printable ASCII without space: what an HTTP request target may hold (RFC 9112 §3.2). */
const REQUEST_TARGET = /^[\x21-\x7e]*$/;
const ENCODED_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses an origin-form request target (`req.url`). Refused: any other form (absolute,
 * authority, `*`, `//host`), a fragment, empty segments, and any segment that at some level of
 * percent-decoding is a dot-segment (also with `;parameters`) or holds a slash, backslash, `?`,
 * `#` or control character, or is not UTF-8. Decoding is repeated until nothing changes, so double encoding hides nothing.
 */
export function parseRequestPath(target: string): RequestPathResult {
  if (!target.startsWith('/')) return { error: 'The request target must be a path' };
  if (!REQUEST_TARGET.test(target) || target.includes('#')) return { error: 'The request target has characters a URL may not hold' };
  const queryStart = target.indexOf('?');
  const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
  const search = queryStart === -1 ? '' : target.slice(queryStart);
  const rawSegments = rawPath.slice(1).split('/');
  const segments: string[] = [];
  for (const [index, raw] of rawSegments.entries()) {
    // A trailing slash is an ordinary path; `//` elsewhere is one that servers disagree about.
    if (raw === '' && index !== rawSegments.length - 1) return { error: 'The path has an empty segment' };
    const decoded = decodeSegment(raw);
    if (typeof decoded !== 'string') return decoded;
    segments.push(decoded);
  }
  return { segments, path: `/${segments.join('/')}`, search };
}

function decodeSegment(raw: string): string | { error: string } {
  let current = raw;
  for (;;) {
    const problem = segmentProblem(current);
    if (problem) return { error: problem };
    let next: string;
    try {
      next = current.replace(ENCODED_RUN, (run) => strictUtf8.decode(Buffer.from(run.replaceAll('%', ''), 'hex')));
    } catch {
      return { error: 'The path has a percent-encoding that is not UTF-8' };
    }
    if (next === current) return current;
    current = next;
  }
}

function segmentProblem(segment: string): string | null {
  // Some servers drop `;parameters` from a segment, turning `..;x` into `..`.
  const name = segment.split(';')[0];
  if (name === '.' || name === '..') return 'The path has a dot-segment';
  if (segment.includes('/') || segment.includes('\\')) return 'The path has an encoded slash or a backslash';
  // Decoded, these would end the path early for whoever parses it again.
  if (segment.includes('?') || segment.includes('#')) return 'The path has an encoded ? or #';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(segment)) return 'The path has a control character';
  return null;
}
