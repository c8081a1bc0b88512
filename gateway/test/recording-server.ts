import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the subgraph received it. */
export interface RecordedRequest {
  body: { query: string; variables?: Record<string, unknown> | null; operationName?: string | null };
  headers: IncomingHttpHeaders;
}

/** What the fake subgraph does with a request; a plain object is sent as JSON. */
export interface Reply {
  status?: number;
  delayMs?: number;
  body?: unknown;
  /** Sent as is instead of `body` (non-JSON answers). */
  text?: string;
  contentType?: string;
  /** Writes part of an answer, then drops the connection. */
  dropAfterPartial?: boolean;
}

export type Responder = (request: RecordedRequest) => Reply | Promise<Reply>;

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  /** Requests received since the last `reset()`. */
  count(): number;
  reset(): void;
  respond(responder: Responder): void;
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A plain node:http "subgraph" that records every request body and answers as told, after an optional delay. */
export async function startRecordingServer(responder: Responder): Promise<RecordingServer> {
  let current = responder;
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const recorded: RecordedRequest = { body: JSON.parse(await readBody(req)) as RecordedRequest['body'], headers: req.headers };
      requests.push(recorded);
      const reply = await current(recorded);
      if (reply.delayMs) await sleep(reply.delayMs);
      if (res.destroyed) return;
      if (reply.dropAfterPartial) {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"data":{"par');
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const text = reply.text ?? JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? (reply.text === undefined ? 'application/json' : 'text/plain') });
      res.end(text);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    requests,
    count: () => requests.length,
    reset: () => {
      requests.length = 0;
    },
    respond: (next) => {
      current = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A recording proxy in front of a real subgraph: records each request body, forwards it and returns the answer unchanged. */
export async function startRecordingProxy(target: string): Promise<RecordingServer> {
  const forwarded = ['authorization', 'x-request-id', 'x-forwarded-for', 'content-type'];
  return startRecordingServer(async (request) => {
    const headers: Record<string, string> = {};
    for (const name of forwarded) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const res = await fetch(target, { method: 'POST', headers, body: JSON.stringify(request.body) });
    return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? 'application/json' };
  });
}
