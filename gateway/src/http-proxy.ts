import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { REQUEST_ID_HEADER, discardRequestBody, endClientSpan, sendJson, startClientSpan, type Logger, type Tracer } from '@vibestream/platform';

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

/**
 * Forwards a request to `path` (path and query, already validated: never the raw URL) on a
 * subgraph's own HTTP handler with both bodies streamed, so a 200 MB upload or a long audio
 * stream never sits whole in the gateway's memory. The subgraph's answer is passed through as
 * it is, also when it comes before the whole body was sent (a refused upload).
 */
export function proxyTo(
  upstreamOrigin: string,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  context: { requestId: string; clientAddress: string; log: Logger; tracer?: Tracer; subgraph?: string },
): Promise<void> {
  const target = new URL(upstreamOrigin);
  const pathname = path.split('?')[0]!;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  headers[REQUEST_ID_HEADER] = context.requestId;
  headers['x-forwarded-for'] = context.clientAddress;
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  // The upstream joins the gateway's trace under a client span (its traceparent replaces the caller's).
  delete headers.traceparent;
  delete headers.tracestate;
  const span = context.tracer
    ? startClientSpan(
        context.tracer,
        `forward ${context.subgraph ?? target.host}`,
        { 'url.path': pathname, 'http.request.method': req.method ?? 'GET' },
        headers,
      )
    : null;
  return new Promise((resolve) => {
    let answered = false;
    const upstream = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method: req.method, headers, path }, (upstreamRes) => {
      answered = true;
      // Answered before the whole body was sent (a refused upload): the subgraph gets no more of
      // it, and the client's rest is read and discarded before the answer ends, so that the
      // connection is not closed on unread bytes, which would reset it and lose the answer.
      if (!req.complete) req.unpipe(upstream);
      const bodyDiscarded = req.complete ? null : discardRequestBody(req);
      const responseHeaders: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstreamRes.headers)) if (value !== undefined && !hopByHop.has(name)) responseHeaders[name] = value;
      res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
      upstreamRes.pipe(res, { end: !bodyDiscarded });
      // The span covers the whole body: a stream's time, not just its first byte.
      upstreamRes.on('end', () => {
        if (span?.isRecording()) endClientSpan(span, upstreamRes.statusCode);
        if (bodyDiscarded) {
          upstream.destroy();
          void bodyDiscarded.then(() => res.end());
        }
        resolve();
      });
      upstreamRes.on('error', (error) => {
        if (span?.isRecording()) endClientSpan(span, upstreamRes.statusCode, error);
        res.destroy();
        resolve();
      });
    });
    upstream.on('error', (error) => {
      // Sending the rest of a body the subgraph no longer reads fails; its answer is already on its way.
      if (answered) return context.log.debug({ err: error, url: pathname }, 'upstream stopped reading the request body');
      if (span?.isRecording()) endClientSpan(span, undefined, error);
      context.log.warn({ err: error, url: pathname }, 'upstream request failed');
      if (!res.headersSent) sendJson(res, 502, { error: `The ${context.subgraph ?? 'upstream'} service is unavailable` });
      else res.destroy();
      void discardRequestBody(req);
      resolve();
    });
    // A client that goes away mid-stream stops the upstream request too.
    res.on('close', () => {
      if (res.writableFinished) return;
      upstream.destroy();
      if (span?.isRecording()) endClientSpan(span, undefined, new Error('the client went away'));
    });
    req.pipe(upstream);
  });
}
