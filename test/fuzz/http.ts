// A raw HTTP/1.1 client: the fuzzer's requests go out byte for byte as generated (paths with
// `..` and `%2e` untouched, odd methods and headers), one connection each, `Connection: close`.
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** The request target exactly as sent: never normalised or re-encoded. */
  path: string;
  headers: [string, string][];
  body?: Buffer;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type RawOutcome = { response: RawResponse } | { error: 'timeout' | 'no-answer'; detail: string };

/** `text` percent-encoded byte by byte (UTF-8; a lone surrogate, which encodeURIComponent refuses, as U+FFFD). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8'))
    out += /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The bytes of a request: a content-length is added for a body unless the headers have one. */
export function encodeRequest(request: RawRequest): Buffer {
  const headers = [...request.headers];
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (!has('host')) headers.unshift(['host', 'fuzz.test']);
  if (request.body && !has('content-length') && !has('transfer-encoding')) headers.push(['content-length', String(request.body.length)]);
  if (!has('connection')) headers.push(['connection', 'close']);
  const head = `${request.method} ${request.path} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), request.body ?? Buffer.alloc(0)]);
}

/** Sends `request` to 127.0.0.1:port and reads the answer until the server closes the connection. */
export function send(port: number, request: RawRequest, timeoutMs: number): Promise<RawOutcome> {
  const bytes = encodeRequest(request);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    let settled = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const fromChunks = (why: string): RawOutcome => {
      const response = parseResponse(Buffer.concat(chunks));
      return response ? { response } : { error: 'no-answer', detail: why };
    };
    const timer = setTimeout(() => finish(chunks.length ? fromChunks('timeout') : { error: 'timeout', detail: `no answer in ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Done once a whole answer is in, even if the server keeps the connection open.
      const response = parseResponse(Buffer.concat(chunks), true);
      if (response) finish({ response });
    });
    socket.on('end', () => finish(fromChunks('the server closed the connection without an answer')));
    // A server may answer early (413) and reset while the body is still going out: keep what it said.
    socket.on('error', (error) => finish(fromChunks(`connection error: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    // No half-close after the request: Node's HTTP server aborts a request whose client has ended its side.
    socket.write(bytes);
  });
}

/** Parses a whole HTTP/1.1 answer; with `complete`, only when its body is known to be whole. */
export function parseResponse(raw: Buffer, complete = false): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(match[1]);
  const rest = raw.subarray(end + 4);
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    const body = dechunk(rest);
    if (body) return { status, headers, body };
    return complete ? null : { status, headers, body: rest };
  }
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : NaN;
  if (Number.isFinite(length)) {
    if (rest.length >= length) return { status, headers, body: rest.subarray(0, length) };
    return complete ? null : { status, headers, body: rest };
  }
  // No length: the body ends when the connection does (or there is none: 1xx, 204, 304).
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, headers, body: Buffer.alloc(0) };
  return complete ? null : { status, headers, body: rest };
}

/** The body of a chunked transfer, or null while its last chunk has not arrived. */
function dechunk(raw: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (raw.length < start + size + 2) return null;
    parts.push(raw.subarray(start, start + size));
    at = start + size + 2;
  }
}
