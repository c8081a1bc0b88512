import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext, type HTTPGraphQLResponse } from '@apollo/server';
import type { TrustedProxies } from './addresses.ts';

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage, limitBytes = 1_048_576): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new BodyTooLargeError(`request body over ${limitBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendGraphQLError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

/**
 * Reads and discards the rest of a request body, for an answer given before the body was read
 * (a refused upload): a connection closed on unread bytes is reset, and the client loses the
 * answer. Resolves when the body has ended; after `lingerMs` the connection is closed instead.
 */
export function discardRequestBody(req: IncomingMessage, lingerMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete || req.destroyed) return resolve();
    const timer = setTimeout(() => {
      req.socket.destroy();
      resolve();
    }, lingerMs).unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

export function headerMapOf(req: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

export interface GraphQLHttpRequestParts {
  method: string;
  search: string;
  body: unknown;
}

/** Rewrites a request before Apollo sees it (persisted documents), or refuses it. */
export type GraphQLRequestTransform = (
  request: GraphQLHttpRequestParts,
) => { search: string; body: unknown } | { error: { status: number; code: string; message: string } };

/** Hands a Node request to Apollo Server and writes its answer. */
export async function runApolloRequest<Ctx extends BaseContext>(
  apollo: ApolloServer<Ctx>,
  req: IncomingMessage,
  res: ServerResponse,
  context: () => Promise<Ctx>,
  bodyLimitBytes?: number,
  transform?: GraphQLRequestTransform,
): Promise<void> {
  const method = req.method ?? 'GET';
  // Parsed only when there is a query string (a POST to /graphql has none).
  let search = req.url?.includes('?') ? new URL(req.url, 'http://localhost').search : '';
  let body: unknown = undefined;
  if (req.method === 'POST') {
    const text = await readBody(req, bodyLimitBytes);
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.includes('json')) {
      try {
        body = text.length ? JSON.parse(text) : undefined;
      } catch {
        sendGraphQLError(res, 400, 'BAD_REQUEST', 'The request body is not valid JSON');
        return;
      }
    } else {
      body = text;
    }
  }
  if (transform) {
    const result = transform({ method, search, body });
    if ('error' in result) return sendGraphQLError(res, result.error.status, result.error.code, result.error.message);
    ({ search, body } = result);
  }
  const response = await apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method, headers: headerMapOf(req), search, body },
    context,
  });
  await writeApolloResponse(res, response);
}

async function writeApolloResponse(res: ServerResponse, response: HTTPGraphQLResponse): Promise<void> {
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/**
 * The caller's address. X-Forwarded-For is believed only from trusted hops (TRUSTED_PROXIES):
 * the proxies in front of the gateway, and for a subgraph the gateway, so a client cannot pick
 * its own address by sending the header itself.
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies = new Set()): string {
  const socketAddress = normalizeAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trusted.has(socketAddress)) return socketAddress;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => normalizeAddress(h.trim()))
    .filter(Boolean);
  // Walk back from the nearest hop; the first address not in our own proxy chain is the client.
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  return hops[0] ?? socketAddress;
}

function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Stops accepting connections, lets in-flight requests finish, then closes idle keep-alive sockets. */
export async function closeGracefully(server: Server, timeoutMs = 10_000): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
  const deadline = new Promise<void>((resolve) =>
    setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, timeoutMs).unref(),
  );
  await Promise.race([closed, deadline]);
  clearInterval(idleSweep);
}

export function listen(server: Server, port: number, host = '0.0.0.0'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
