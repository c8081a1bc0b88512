import { RefreshSessionDocument, type Role } from '../../../generated/graphql.ts';
import { postOperation } from '../graphql-http.ts';

/** What the browser keeps of a signed-in person: the token pair (localStorage, shared by tabs). */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface Session extends Tokens {
  userId: string;
  roles: Role[];
  /** When the access token expires (ms since the epoch). */
  expiresAt: number;
}

const STORAGE_KEY = 'vibestream.session';
/** Refresh when the access token has less than this left, so no request goes out with a dying token. */
const REFRESH_MARGIN_MS = 60_000;

const listeners = new Set<() => void>();
let cached: { raw: string | null; session: Session | null } = { raw: null, session: null };
let refreshing: Promise<string | null> | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

/** The access token's own claims (sub, roles, exp); the signature is the gateway's to check. */
function claimsOf(accessToken: string): { userId: string; roles: Role[]; expiresAt: number } | null {
  const payload = accessToken.split('.')[1];
  if (!payload) return null;
  try {
    const json: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    const claims = json as { sub?: unknown; roles?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null;
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is Role => r === 'FAN' || r === 'ARTIST' || r === 'ADMIN') : [];
    return { userId: claims.sub, roles, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}

export function currentSession(): Session | null {
  const raw = localStorage.getItem(STORAGE_KEY);
  if (raw === cached.raw) return cached.session;
  let session: Session | null = null;
  if (raw) {
    try {
      const tokens = JSON.parse(raw) as Partial<Tokens>;
      const claims = typeof tokens.accessToken === 'string' ? claimsOf(tokens.accessToken) : null;
      if (claims && typeof tokens.refreshToken === 'string') session = { accessToken: tokens.accessToken!, refreshToken: tokens.refreshToken, ...claims };
    } catch {
      session = null;
    }
  }
  cached = { raw, session };
  return session;
}

export function subscribeSession(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(): void {
  schedule();
  for (const listener of listeners) listener();
}

export function saveSession(tokens: Tokens): void {
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }));
  changed();
}

export function clearSession(): void {
  localStorage.removeItem(STORAGE_KEY);
  changed();
}

/** Keeps the token fresh while the app is open, so live subscriptions reconnect before the gateway closes them. */
function schedule(): void {
  clearTimeout(timer);
  const session = currentSession();
  if (!session) return;
  const wait = Math.max(1_000, session.expiresAt - Date.now() - REFRESH_MARGIN_MS);
  timer = setTimeout(() => void refreshAccessToken(session.accessToken).catch(() => schedule()), wait);
}

/** Another tab signed in, out, or refreshed: follow it. */
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (event) => {
    if (event.key === STORAGE_KEY) changed();
  });
  schedule();
}

/** An access token valid for at least the margin, refreshing first if needed; null when signed out. */
export async function freshAccessToken(): Promise<string | null> {
  const session = currentSession();
  if (!session) return null;
  if (session.expiresAt - Date.now() > REFRESH_MARGIN_MS) return session.accessToken;
  return refreshAccessToken(session.accessToken);
}

/**
 * Exchanges the refresh token for a new pair. Refresh tokens are single-use and reuse revokes
 * the whole session, so one refresh runs at a time in this tab (shared promise) and across tabs
 * (Web Lock); inside the lock, a pair another tab already rotated is used as it is.
 * `stale` is the access token the caller found wanting.
 */
export function refreshAccessToken(stale: string): Promise<string | null> {
  refreshing ??= withLock(async () => {
    const session = currentSession();
    if (!session) return null;
    if (session.accessToken !== stale && session.expiresAt - Date.now() > REFRESH_MARGIN_MS) return session.accessToken;
    const result = await postOperation(RefreshSessionDocument, { refreshToken: session.refreshToken });
    const tokens = result.data?.refreshSession;
    if (tokens) {
      saveSession(tokens);
      return tokens.accessToken;
    }
    if (result.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
      clearSession();
      return null;
    }
    throw new Error(result.errors?.[0]?.message ?? 'Could not refresh the session');
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function withLock<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  // The lock is held until work's promise settles; its result is the callback's promise.
  return locks ? locks.request('vibestream-session-refresh', work).then((result) => result) : work();
}
