// A real OpenID provider for tests: panva's `oidc-provider` on a local port, with confidential test
// clients that must use PKCE (S256), accounts whose claims the test sets, a login the test completes
// without a browser (its interaction endpoint driven with fetch and a cookie jar), and a hook on the
// token endpoint's answer so a test can hand the relying party a tampered or forged ID token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { SignJWT, UnsecuredJWT, decodeJwt, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestOidcClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** Rewrites the ID token of the next successful token response; `forge` signs claims with the provider's real key or a stranger's. */
export type IdTokenTamper = (idToken: string, tools: { claims: JWTPayload; forge: TestOidcProvider['signIdToken'] }) => string | Promise<string>;

export interface TestOidcProvider {
  /** The issuer identifier (http://127.0.0.1:port); its discovery document is at /.well-known/openid-configuration. */
  issuer: string;
  /** Creates or replaces an account: `sub` is its id; the claims (email, email_verified, name ...) go into its ID tokens. */
  setAccount(sub: string, claims: Record<string, unknown>): void;
  /**
   * Plays the browser: follows `authorizationUrl` to the login, signs in as `sub`, and answers the
   * URL the provider redirects back to (the redirect URI with `code`, `state` and `iss`), unfetched.
   * With response_mode=form_post: the form's action, with the fields it would POST as its query.
   */
  authorize(authorizationUrl: string, sub: string): Promise<URL>;
  /** The next successful token response carries `tamper(idToken)` instead of its ID token (once). */
  tamperNextIdToken(tamper: IdTokenTamper): void;
  /** Signs an ID token: with the provider's own key (`key: 'provider'`, the default) or a key it never published. */
  signIdToken(claims: JWTPayload, options?: { key?: 'provider' | 'stranger'; alg?: 'RS256' | 'none' }): Promise<string>;
  /** How many token requests were answered (any outcome). */
  tokenRequests(): number;
  stop(): Promise<void>;
}

/** oidc-provider's storage, in this provider's memory (its built-in one warns that it is for development only). */
function memoryAdapter() {
  const items = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  const live = (key: string) => {
    const item = items.get(key);
    if (item && item.expiresAt <= Date.now()) items.delete(key);
    return item && item.expiresAt > Date.now() ? item.payload : undefined;
  };
  return class MemoryAdapter {
    private readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    private key(id: string) {
      return `${this.name}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
      items.set(this.key(id), { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    }
    async find(id: string) {
      return live(this.key(id));
    }
    async findByUid(uid: string) {
      return [...items.keys()]
        .filter((k) => k.startsWith(`${this.name}:`))
        .map(live)
        .find((p) => p?.uid === uid);
    }
    async findByUserCode(userCode: string) {
      return [...items.keys()]
        .filter((k) => k.startsWith(`${this.name}:`))
        .map(live)
        .find((p) => p?.userCode === userCode);
    }
    async consume(id: string) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      items.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, item] of items) if (item.payload.grantId === grantId) items.delete(key);
    }
  };
}

interface SigningKey {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, jwk };
}

/** Starts the provider on 127.0.0.1 (a free port unless `port` is given). */
export async function startTestOidcProvider(options: { clients: TestOidcClient[]; port?: number }): Promise<TestOidcProvider> {
  const accounts = new Map<string, Record<string, unknown>>();
  const own = await signingKey(`test-${randomUUID().slice(0, 8)}`);
  const stranger = await signingKey(own.jwk.kid!);
  let pendingTamper: IdTokenTamper | null = null;
  let tokenRequests = 0;

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    pkce: { required: () => true },
    ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    jwks: { keys: [own.jwk] },
    cookies: { keys: [randomBytes(24).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    // Scope claims in the ID token itself, as Google and Apple put them.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    adapter: memoryAdapter(),
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // First-party test clients: the grant is given at login, so there is no consent step.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const session = ctx.oidc.session!;
      const clientId = ctx.oidc.client!.clientId;
      const existing = session.grantIdFor(clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      if (!session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      session.grantIdFor(clientId, grant.jti);
      return grant;
    },
    findAccount: (_ctx: KoaContextWithOIDC, sub: string) => {
      const claims = accounts.get(sub);
      return claims ? { accountId: sub, claims: () => ({ ...claims, sub }) } : undefined;
    },
  });

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token') return;
    tokenRequests++;
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.status !== 200 || !body?.id_token || !pendingTamper) return;
    const tamper = pendingTamper;
    pendingTamper = null;
    body.id_token = await tamper(body.id_token, { claims: decodeJwt(body.id_token), forge: signIdToken });
  });

  const callback = provider.callback();
  handler = (req, res) => {
    const login = /^\/interaction\/([\w-]+)\/login$/.exec(req.url ?? '');
    if (req.method === 'POST' && login) return void finishLogin(req, res);
    if (req.method === 'GET' && /^\/interaction\/[\w-]+$/.test(req.url ?? '')) {
      // The login page a browser sees (a browser test fills it in); `authorize` posts the same form.
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><title>Test provider</title><form method="post" action="${req.url}/login"><label>Account <input name="account"></label><button>Log in</button></form>`,
        );
      return;
    }
    callback(req, res);
  };

  async function finishLogin(req: IncomingMessage, res: ServerResponse) {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const account = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('account') ?? '';
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
      if (!accounts.has(account)) throw new Error(`no test account ${account}`);
      await provider.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
    }
  }

  async function signIdToken(claims: JWTPayload, signOptions: { key?: 'provider' | 'stranger'; alg?: 'RS256' | 'none' } = {}): Promise<string> {
    if (signOptions.alg === 'none') return new UnsecuredJWT(claims).encode();
    const key = signOptions.key === 'stranger' ? stranger : own;
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.jwk.kid!, typ: 'JWT' }).sign(key.privateKey);
  }

  async function authorize(authorizationUrl: string, sub: string): Promise<URL> {
    const jar = new Map<string, string>();
    const send = async (url: string, init: RequestInit = {}) => {
      const response = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const at = pair!.indexOf('=');
        jar.set(pair!.slice(0, at).trim(), pair!.slice(at + 1).trim());
      }
      const body = await response.text();
      const location = response.headers.get('location');
      return { status: response.status, location: location ? new URL(location, url).href : null, body };
    };
    const toLogin = await send(authorizationUrl);
    if (!toLogin.location?.startsWith(`${issuer}/interaction/`)) {
      throw new Error(`the authorization request did not lead to the login (status ${toLogin.status}, location ${toLogin.location})`);
    }
    const loggedIn = await send(`${toLogin.location}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ account: sub }).toString(),
    });
    let next = loggedIn.location;
    for (let hop = 0; next && next.startsWith(issuer) && hop < 5; hop++) {
      const answer = await send(next);
      if (!answer.location && answer.status === 200) return formPostOf(answer.body);
      next = answer.location;
    }
    if (!next) throw new Error('the provider did not redirect back');
    return new URL(next);
  }

  /** response_mode=form_post: the page's form as its action URL, with the fields it would POST in the query. */
  function formPostOf(html: string): URL {
    const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
    if (!action) throw new Error('the provider answered neither a redirect nor a form_post page');
    const unescape = (v: string) =>
      v
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    const url = new URL(unescape(action));
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)) url.searchParams.set(name!, unescape(value!));
    return url;
  }

  return {
    issuer,
    setAccount: (sub, claims) => void accounts.set(sub, claims),
    authorize,
    tamperNextIdToken: (tamper) => void (pendingTamper = tamper),
    signIdToken,
    tokenRequests: () => tokenRequests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
