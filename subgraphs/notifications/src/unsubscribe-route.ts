import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, BodyTooLargeError, readBody, type HttpRoute, type Logger } from '@vibestream/platform';
import { MAX_UNSUBSCRIBE_TOKEN_LENGTH } from './domain/unsubscribe-token.ts';
import type { NotificationsService } from './service.ts';

export const UNSUBSCRIBE_PATH = '/email/unsubscribe';

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function tokenOf(req: IncomingMessage): string | null {
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
  return token && token.length <= MAX_UNSUBSCRIBE_TOKEN_LENGTH ? token : null;
}

/**
 * RFC 8058 one-click unsubscribe: a mail client POSTs `List-Unsubscribe=One-Click` (form-encoded)
 * to the List-Unsubscribe URL, `/email/unsubscribe?token=…`, with no cookies or sign-in: the signed
 * token is the proof. The gateway forwards exactly this path. A GET (a person who opened the link)
 * unsubscribes nothing: it is sent to the web app's page, which asks first.
 */
export function unsubscribeRoutes(deps: { service: NotificationsService; webUrl: string; log: Logger }): HttpRoute[] {
  return [
    {
      method: 'POST',
      path: UNSUBSCRIBE_PATH,
      async handle(req, res) {
        let body: string;
        try {
          body = await readBody(req, 4096);
        } catch (error) {
          if (error instanceof BodyTooLargeError) return sendText(res, 413, 'request body too large');
          throw error;
        }
        const form = new URLSearchParams(body);
        if (form.get('List-Unsubscribe') !== 'One-Click') return sendText(res, 400, 'expected the form body List-Unsubscribe=One-Click');
        const token = tokenOf(req);
        if (!token) return sendText(res, 400, 'this unsubscribe link is not valid');
        try {
          await deps.service.unsubscribeEmail(token);
        } catch (error) {
          if (error instanceof AppError && error.extensions.code === 'BAD_USER_INPUT') return sendText(res, 400, 'this unsubscribe link is not valid');
          deps.log.error({ err: error }, 'one-click unsubscribe failed');
          return sendText(res, 500, 'unsubscribe failed; try again later');
        }
        return sendText(res, 200, 'unsubscribed');
      },
    },
    {
      method: 'GET',
      path: UNSUBSCRIBE_PATH,
      handle(req, res) {
        const token = tokenOf(req);
        if (!token) return sendText(res, 400, 'this unsubscribe link is not valid');
        sendText(res, 303, 'see the unsubscribe page', { location: `${deps.webUrl}/unsubscribe?token=${encodeURIComponent(token)}` });
      },
    },
  ];
}
