import type { RequestPath } from './request-path.ts';

/** One identifier segment (a UUID, a token number): nothing a server could read as more than a name. */
const ID = /^[A-Za-z0-9_-]{1,128}$/;
/** A rendition's bitrate in kbps, and the files of a rendition (catalog's HLS stream sessions). */
const KBPS = /^\d{2,3}$/;
const HLS_FILE = /^(?:index\.m3u8|key|seg\d{1,5}\.ts)$/;

interface ForwardedRoute {
  subgraph: string;
  /** The metrics label of the route's requests. */
  label: string;
  methods: readonly string[];
  /** Literal segments, or ID for one identifier. */
  segments: readonly (string | RegExp)[];
}

/**
 * The exact HTTP routes the gateway hands to a subgraph's own handler (those the subgraphs
 * register), bodies streamed both ways. Nothing else of a subgraph (its /graphql, /metrics,
 * /readyz) is reachable through the gateway.
 */
const forwardedRoutes: readonly ForwardedRoute[] = [
  // catalog's signed upload and stream URLs (subgraphs/catalog/src/media.ts).
  { subgraph: 'catalog', label: '/media/', methods: ['PUT'], segments: ['media', 'upload', ID] },
  { subgraph: 'catalog', label: '/media/', methods: ['GET', 'HEAD'], segments: ['media', 'stream', ID] },
  // catalog's HLS stream sessions (subgraphs/catalog/src/hls.ts): the master, each rendition's playlist, segments and key.
  { subgraph: 'catalog', label: '/media/', methods: ['GET', 'HEAD'], segments: ['media', 'hls', ID, 'master.m3u8'] },
  { subgraph: 'catalog', label: '/media/', methods: ['GET', 'HEAD'], segments: ['media', 'hls', ID, KBPS, HLS_FILE] },
  // Stripe signs the exact bytes it sends: the body is streamed to payments untouched.
  { subgraph: 'payments', label: '/webhooks/stripe', methods: ['POST'], segments: ['webhooks', 'stripe'] },
  // Campaign NFTs' token metadata, /nft/<campaignId>/<tokenId>: the collections' tokenURI points here.
  { subgraph: 'campaigns', label: '/nft/', methods: ['GET'], segments: ['nft', ID, ID] },
  // RFC 8058 one-click unsubscribe of notification emails (subgraphs/notifications/src/unsubscribe-route.ts): a mail
  // client POSTs List-Unsubscribe=One-Click; a GET is sent on to the web app's /unsubscribe page.
  { subgraph: 'notifications', label: '/email/unsubscribe', methods: ['POST', 'GET'], segments: ['email', 'unsubscribe'] },
  // A form_post OpenID provider's answer (Apple), sent on to the web app's /auth/callback (subgraphs/identity/src/oidc-form-post-route.ts).
  { subgraph: 'identity', label: '/oidc/form-post', methods: ['POST'], segments: ['oidc', 'form-post'] },
];

/** First segments that belong to forwarded routes: anything else under them is 404, never the web app. */
const forwardedPrefixes = new Set(forwardedRoutes.map((route) => route.segments[0] as string));

export type ForwardDecision =
  | { forward: true; subgraph: string; label: string; /** The path and query to send upstream, rebuilt from the decoded segments. */ target: string }
  | { forward: false; label: string; status: 404 | 405; allow?: string };

/** What the gateway does with a request under a forwarded prefix; null when the path is not under one. */
export function forwardDecision(method: string, request: RequestPath): ForwardDecision | null {
  const label = forwardedLabel(request);
  if (!label) return null;
  const matching = forwardedRoutes.filter((route) => matches(route, request.segments));
  if (matching.length === 0) return { forward: false, label, status: 404 };
  const route = matching.find((r) => r.methods.includes(method));
  if (!route) return { forward: false, label, status: 405, allow: matching.flatMap((r) => r.methods).join(', ') };
  const path = `/${request.segments.map(encodeURIComponent).join('/')}`;
  return { forward: true, subgraph: route.subgraph, label, target: `${path}${request.search}` };
}

/** The metrics label of a path under a forwarded prefix, or null. */
export function forwardedLabel(request: RequestPath): string | null {
  if (!forwardedPrefixes.has(request.segments[0]!)) return null;
  return forwardedRoutes.find((route) => route.segments[0] === request.segments[0])!.label;
}

function matches(route: ForwardedRoute, segments: readonly string[]): boolean {
  return (
    route.segments.length === segments.length &&
    route.segments.every((expected, i) => (typeof expected === 'string' ? expected === segments[i] : expected.test(segments[i]!)))
  );
}
