import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { REQUEST_ID_HEADER, endClientSpan, sendJson, startClientSpan, type Logger, type Tracer } from '@vibestream/platform';

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

/**
 * Forwards a request to a subgraph's own HTTP handler with both bodies streamed, so a
 * 200 MB upload or a long audio stream never sits whole in the gateway's memory.
 */
export function proxyTo(
  upstreamOrigin: string,
  req: IncomingMessage,
  res: ServerResponse,
  context: { requestId: string; clientAddress: string; log: Logger; tracer?: Tracer; subgraph?: string },
): Promise<void> {
  const target = new URL(req.url ?? '/', upstreamOrigin);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  headers[REQUEST_ID_HEADER] = context.requestId;
  headers['x-forwarded-for'] = context.clientAddress;
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  // The upstream joins the gateway's trace under a client span (its traceparent replaces the caller's).
  delete headers.traceparent;
  delete headers.tracestate;
  const span = context.tracer ? startClientSpan(context.tracer, `forward ${context.subgraph ?? target.host}`, { 'url.path': target.pathname, 'http.request.method': req.method ?? 'GET' }, headers) : null;
  return new Promise((resolve) => {
    const upstream = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { method: req.method, headers },
      (upstreamRes) => {
        const responseHeaders: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(upstreamRes.headers)) if (value !== undefined && !hopByHop.has(name)) responseHeaders[name] = value;
        res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
        upstreamRes.pipe(res);
        // The span covers the whole body: a stream's time, not just its first byte.
        upstreamRes.on('end', () => {
          if (span?.isRecording()) endClientSpan(span, upstreamRes.statusCode);
          resolve();
        });
        upstreamRes.on('error', (error) => {
          if (span?.isRecording()) endClientSpan(span, upstreamRes.statusCode, error);
          res.destroy();
          resolve();
        });
      },
    );
    upstream.on('error', (error) => {
      if (span?.isRecording()) endClientSpan(span, undefined, error);
      context.log.warn({ err: error, url: target.pathname }, 'upstream request failed');
      if (!res.headersSent) sendJson(res, 502, { error: `The ${context.subgraph ?? 'upstream'} service is unavailable` });
      else res.destroy();
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
