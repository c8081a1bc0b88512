import type { ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody, type HttpRoute } from '@vibestream/platform';
import { FORM_POST_PATH, formPostCallback } from './domain/oidc.ts';

/** Apple's form_post body carries the code, the state, an ID token and on the first sign-in the user's name: well under this. */
const MAX_FORM_POST_BYTES = 64 * 1024;

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', ...headers });
  res.end(text);
}

/**
 * A `form_post` provider (Apple) POSTs its answer to FORM_POST_PATH on the web app's origin (the
 * gateway forwards exactly this path). Nothing is decided here: the browser is sent on (303) to the
 * web app's /auth/callback with the code and state in the query, where completeSocialSignIn checks
 * them as for any provider.
 */
export function formPostRoute(): HttpRoute {
  return {
    method: 'POST',
    path: FORM_POST_PATH,
    async handle(req, res) {
      let body: string;
      try {
        body = await readBody(req, MAX_FORM_POST_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) return send(res, 413, 'request body too large');
        throw error;
      }
      send(res, 303, 'continue at the sign-in page', { location: formPostCallback(body) });
    },
  };
}
