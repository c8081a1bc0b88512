// Social sign-in's rules without I/O: the provider configuration, the redirect allow-list, the
// claims an ID token carries, the linking decision (property-tested), and ID token verification by
// jose against a local key set (every claim check, alg none and algorithm confusion).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SignJWT, UnsecuredJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWTPayload } from 'jose';
import { createLogger, generateSigningKeys, type FailureLimiter, type Persistence, type SessionRevocations } from '@vibestream/platform';
import { loadIdentityConfig } from '../src/config.ts';
import {
  claimIsTrue,
  decideSocialSignIn,
  displayNameFor,
  formPostCallback,
  identityClaims,
  isAllowedRedirectUri,
  OidcProviderList,
  parseProviderList,
  providerRedirectUri,
} from '../src/domain/oidc.ts';
import { appleClientSecret, verifyIdToken } from '../src/oidc-client.ts';
import { generateKeyPairSync } from 'node:crypto';
import { SocialSignIn, oidcRedirectUris } from '../src/use-cases/social-sign-in.ts';

const baseEnv = { DATABASE_URL: 'postgres://localhost/x', JWT_PRIVATE_KEY: generateSigningKeys().privateKeyPem };
const google = {
  id: 'google',
  displayName: 'Google',
  issuer: 'https://accounts.google.com',
  clientId: 'abc.apps.googleusercontent.com',
  clientSecret: 's3cret',
};

describe('provider configuration', () => {
  const parse = (raw: unknown) => OidcProviderList.safeParse(parseProviderList(raw));

  it('reads a JSON list, with default scopes and client authentication', () => {
    const result = parse(
      JSON.stringify([
        google,
        {
          ...google,
          id: 'apple',
          displayName: 'Apple',
          issuer: 'https://appleid.apple.com',
          tokenEndpointAuthMethod: 'client_secret_post',
          scopes: ['openid', 'email'],
        },
      ]),
    );
    expect(result.success).toBe(true);
    expect(result.data![0]).toMatchObject({ id: 'google', scopes: ['openid', 'email', 'profile'], tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(result.data![1]).toMatchObject({ id: 'apple', scopes: ['openid', 'email'], tokenEndpointAuthMethod: 'client_secret_post' });
  });

  it('treats unset and empty as no providers', () => {
    expect(parse(undefined).data).toEqual([]);
    expect(parse('').data).toEqual([]);
    expect(parse('  ').data).toEqual([]);
    expect(parse('[]').data).toEqual([]);
  });

  it.each([
    ['not JSON', '[{'],
    ['an object, not a list', JSON.stringify(google)],
    ['duplicate ids', JSON.stringify([google, google])],
    ['an http issuer off loopback', JSON.stringify([{ ...google, issuer: 'http://accounts.google.com' }])],
    ['an issuer with a query', JSON.stringify([{ ...google, issuer: 'https://accounts.google.com?x=1' }])],
    ['a bad id', JSON.stringify([{ ...google, id: 'Google Inc' }])],
    ['scopes without openid', JSON.stringify([{ ...google, scopes: ['email'] }])],
    ['an unknown field', JSON.stringify([{ ...google, client_secret: 'x' }])],
    ['no client secret', JSON.stringify([{ ...google, clientSecret: '' }])],
    ['an unknown auth method', JSON.stringify([{ ...google, tokenEndpointAuthMethod: 'private_key_jwt' }])],
  ])('refuses %s', (_name, raw) => {
    expect(parse(raw).success).toBe(false);
  });

  it('accepts http issuers on loopback (tests, development)', () => {
    expect(parse(JSON.stringify([{ ...google, issuer: 'http://127.0.0.1:9000' }])).success).toBe(true);
    expect(parse(JSON.stringify([{ ...google, issuer: 'http://localhost:9000/realms/x' }])).success).toBe(true);
  });

  it('names OIDC_PROVIDERS in the start-up error, without echoing the secret', () => {
    const env = { ...baseEnv, OIDC_PROVIDERS: JSON.stringify([{ ...google, issuer: 'ftp://x', clientSecret: 'do-not-print-me' }]) };
    expect(() => loadIdentityConfig(env)).toThrow(/OIDC_PROVIDERS/);
    expect(() => loadIdentityConfig(env)).not.toThrow(/do-not-print-me/);
  });

  it("defaults the redirect allow-list to the web app's /auth/callback", () => {
    const config = loadIdentityConfig({ ...baseEnv, PUBLIC_URL: 'https://vibestream.example' });
    expect(config.OIDC_PROVIDERS).toEqual([]);
    expect(oidcRedirectUris(config)).toEqual(['https://vibestream.example/auth/callback']);
    const listed = loadIdentityConfig({ ...baseEnv, OIDC_REDIRECT_URIS: 'https://a.example/cb, https://b.example/cb' });
    expect(oidcRedirectUris(listed)).toEqual(['https://a.example/cb', 'https://b.example/cb']);
  });
});

describe("Apple's client secret", () => {
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = { teamId: 'TEAM123456', keyId: 'KEY1234567', privateKey: pem };
  const apple = { ...google, id: 'apple', issuer: 'https://appleid.apple.com', clientId: 'com.example.web', tokenEndpointAuthMethod: 'client_secret_post' };
  const parse = (p: Record<string, unknown>) => OidcProviderList.safeParse([p]);

  it('takes the signing key instead of a secret made by hand, and exactly one of the two', () => {
    const { clientSecret: _none, ...withoutSecret } = apple;
    expect(parse({ ...withoutSecret, appleClientSecretKey: key }).success).toBe(true);
    expect(parse({ ...apple, appleClientSecretKey: key }).success).toBe(false);
    expect(parse(withoutSecret).success).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(parse({ ...withoutSecret, appleClientSecretKey: { ...key, privateKey: rsa } }).success).toBe(false);
    expect(parse({ ...withoutSecret, appleClientSecretKey: { ...key, teamId: 'team' } }).success).toBe(false);
  });

  it('signs a fresh ES256 JWT for the team, the Services ID and Apple, valid 5 minutes', async () => {
    const now = Date.now();
    const secret = await appleClientSecret(key, 'com.example.web', now);
    const { payload, protectedHeader } = await jwtVerify(secret, p256.publicKey, {
      issuer: 'TEAM123456',
      subject: 'com.example.web',
      audience: 'https://appleid.apple.com',
      algorithms: ['ES256'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'KEY1234567' });
    expect(payload.exp! - payload.iat!).toBe(300);
  });
});

describe('production', () => {
  const socialSignIn = (env: NodeJS.ProcessEnv) =>
    new SocialSignIn({
      db: {} as Persistence,
      config: loadIdentityConfig({ ...baseEnv, NODE_ENV: 'production', INTERNAL_API_TOKEN: 'x'.repeat(32), ...env }),
      sessions: { startSession: () => Promise.reject(new Error('unused')) },
      limiter: {} as FailureLimiter,
      revocations: {} as SessionRevocations,
      log: createLogger('test', 'silent'),
    });

  it('starts without providers whatever PUBLIC_URL is (no redirect URI is ever used)', () => {
    expect(() => socialSignIn({ PUBLIC_URL: 'http://localhost:4000' })).not.toThrow();
  });

  it('refuses http issuers and http redirect URIs once a provider is configured', () => {
    const local = JSON.stringify([{ ...google, issuer: 'http://127.0.0.1:9000' }]);
    expect(() => socialSignIn({ OIDC_PROVIDERS: local, PUBLIC_URL: 'https://vibestream.example' })).toThrow(
      /OIDC_PROVIDERS: provider google: the issuer must be https/,
    );
    expect(() => socialSignIn({ OIDC_PROVIDERS: JSON.stringify([google]), PUBLIC_URL: 'http://vibestream.example' })).toThrow(
      /OIDC_REDIRECT_URIS: must be https/,
    );
    expect(() => socialSignIn({ OIDC_PROVIDERS: JSON.stringify([google]), PUBLIC_URL: 'https://vibestream.example' })).not.toThrow();
  });
});

describe('redirect allow-list', () => {
  const allowed = ['https://vibestream.example/auth/callback'];
  it('accepts exactly an allowed URI and nothing that merely resembles one', () => {
    expect(isAllowedRedirectUri(allowed, 'https://vibestream.example/auth/callback')).toBe(true);
    for (const uri of [
      'https://vibestream.example/auth/callback/',
      'https://vibestream.example/auth/callback?next=https://evil.example',
      'https://vibestream.example/auth/callback#x',
      'https://vibestream.example.evil.example/auth/callback',
      'https://vibestream.example/auth/callback/../../evil',
      'HTTPS://VIBESTREAM.EXAMPLE/auth/callback',
      'http://vibestream.example/auth/callback',
      '',
    ]) {
      expect(isAllowedRedirectUri(allowed, uri), uri).toBe(false);
    }
  });
  it('holds for any string that is not on the list', () => {
    fc.assert(fc.property(fc.string(), (uri) => isAllowedRedirectUri(allowed, uri) === (uri === allowed[0])));
  });
});

describe('form_post', () => {
  it("gives a form_post provider the form-post path on the callback's origin, others the callback itself", () => {
    expect(providerRedirectUri({ responseMode: 'form_post' }, 'https://vibestream.example/auth/callback')).toBe('https://vibestream.example/oidc/form-post');
    expect(providerRedirectUri({ responseMode: 'query' }, 'https://vibestream.example/auth/callback')).toBe('https://vibestream.example/auth/callback');
  });

  it('forwards only code, state, iss and errors, each bounded, to the web callback', () => {
    expect(formPostCallback('code=c1&state=s1&iss=https%3A%2F%2Fappleid.apple.com&id_token=x.y.z&user=%7B%7D')).toBe(
      '/auth/callback?code=c1&state=s1&iss=https%3A%2F%2Fappleid.apple.com',
    );
    expect(formPostCallback('state=s1')).toBe('/auth/callback?state=s1&error=invalid_request');
    expect(formPostCallback(`code=${'c'.repeat(5000)}&state=s`)).toBe('/auth/callback?state=s&error=invalid_request');
    fc.assert(
      fc.property(fc.string(), (body) => {
        const target = formPostCallback(body);
        const url = new URL(target, 'https://vibestream.example');
        // Always the callback on the same origin, whatever was posted.
        return target.startsWith('/auth/callback?') && url.origin === 'https://vibestream.example' && url.pathname === '/auth/callback';
      }),
    );
  });
});

describe('claims', () => {
  it('reads email_verified as true only for true or Apple\'s "true"', () => {
    expect(claimIsTrue(true)).toBe(true);
    expect(claimIsTrue('true')).toBe(true);
    for (const v of [false, 'false', 'TRUE', 'True', 1, 'yes', null, undefined, {}, ['true']]) expect(claimIsTrue(v), String(v)).toBe(false);
  });

  it('reads the subject, a valid email and a name, and ignores the malformed', () => {
    expect(identityClaims({ sub: 'u1', email: ' ada@example.com ', email_verified: 'true', name: ' Ada ' })).toEqual({
      subject: 'u1',
      email: 'ada@example.com',
      emailVerified: true,
      name: 'Ada',
    });
    expect(identityClaims({ email: 'a@example.com' })).toBeNull();
    expect(identityClaims({ sub: '' })).toBeNull();
    expect(identityClaims({ sub: 42 })).toBeNull();
    expect(identityClaims({ sub: 'x'.repeat(256) })).toBeNull();
    expect(identityClaims({ sub: 'u2', email: 'not an email', email_verified: true })).toMatchObject({ email: null, emailVerified: false });
    expect(identityClaims({ sub: 'u3', email: ['a@example.com'], email_verified: true })).toMatchObject({ email: null, emailVerified: false });
    expect(identityClaims({ sub: 'u4', preferred_username: 'dj_ada' })!.name).toBe('dj_ada');
  });

  it('names a new account after the provider, else the email', () => {
    expect(displayNameFor({ subject: 's', email: 'ada@example.com', emailVerified: true, name: 'Ada L' })).toBe('Ada L');
    expect(displayNameFor({ subject: 's', email: 'ada@example.com', emailVerified: true, name: null })).toBe('ada');
  });
});

describe('the linking rule', () => {
  const id = fc.option(fc.uuid(), { nil: null });
  const claims = fc.record({ email: fc.option(fc.emailAddress(), { nil: null }), emailVerified: fc.boolean() });

  it('signs in a linked identity, links only a verified email, creates only for a new email', () => {
    fc.assert(
      fc.property(id, claims, id, fc.boolean(), (linkedUserId, c, emailOwnerId, emailOwnerVerified) => {
        const decision = decideSocialSignIn({ linkedUserId, claims: c, emailOwnerId: c.email ? emailOwnerId : null, emailOwnerVerified });
        if (linkedUserId) return decision.kind === 'sign-in' && decision.userId === linkedUserId;
        switch (decision.kind) {
          case 'sign-in':
            return false;
          case 'link':
            // An account that never proved its email is claimed (its password and sessions reset).
            return c.emailVerified && c.email !== null && decision.userId === emailOwnerId && decision.claimAccount === !emailOwnerVerified;
          case 'create':
            return c.email !== null && emailOwnerId === null;
          case 'refuse':
            return decision.reason === 'no-email' ? c.email === null : c.email !== null && emailOwnerId !== null && !c.emailVerified;
        }
      }),
    );
  });

  it('never links an existing account from an ID token whose email_verified is not true or "true"', () => {
    const notVerified = fc.oneof(
      fc.constant(false),
      fc.constant('false'),
      fc.constant('TRUE'),
      fc.constant(1),
      fc.constant(null),
      fc.string(),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.emailAddress(),
        notVerified,
        fc.uuid(),
        fc.boolean(),
        (sub, email, verified, owner, ownerVerified) => {
          fc.pre(verified !== 'true');
          const c = identityClaims({ sub, email, ...(verified === undefined ? {} : { email_verified: verified }) });
          const decision = decideSocialSignIn({ linkedUserId: null, claims: c!, emailOwnerId: owner, emailOwnerVerified: ownerVerified });
          return decision.kind !== 'link' && decision.kind !== 'sign-in';
        },
      ),
    );
  });
});

describe('ID token verification (jose)', async () => {
  const issuer = 'https://id.example';
  const clientId = 'vibestream';
  const nonce = 'the-flows-nonce';
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const keys = createLocalJWKSet({ keys: [jwk] });
  const expected = { issuer, clientId, nonce, algorithms: ['ES256'] };
  const now = Math.floor(Date.now() / 1000);
  const base: JWTPayload = { iss: issuer, aud: clientId, sub: 'user-1', nonce, iat: now, exp: now + 300 };
  const sign = (claims: JWTPayload, key = privateKey) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(key);

  it('accepts a token the provider signed for this client and flow', async () => {
    await expect(verifyIdToken(await sign(base), keys, expected)).resolves.toMatchObject({ sub: 'user-1' });
    await expect(verifyIdToken(await sign({ ...base, aud: [clientId, 'x'], azp: clientId }), keys, expected)).resolves.toBeTruthy();
  });

  it.each<[string, JWTPayload]>([
    ['another audience', { ...base, aud: 'someone-else' }],
    ['several audiences without azp', { ...base, aud: [clientId, 'someone-else'] }],
    ['another issuer', { ...base, iss: 'https://evil.example' }],
    ['another nonce', { ...base, nonce: 'replayed' }],
    ['no nonce', { ...base, nonce: undefined }],
    ['expired', { ...base, iat: now - 3600, exp: now - 600 }],
    ['no expiry', { ...base, exp: undefined }],
    ['no subject', { ...base, sub: undefined }],
  ])('refuses a token with %s', async (_name, claims) => {
    await expect(verifyIdToken(await sign(claims), keys, expected)).rejects.toThrow();
  });

  it('refuses a token signed by another key, an unsigned one, and an HMAC one keyed with the public key', async () => {
    await expect(verifyIdToken(await sign(base, other.privateKey), keys, expected)).rejects.toThrow();
    await expect(verifyIdToken(new UnsecuredJWT(base).encode(), keys, expected)).rejects.toThrow();
    const hmac = await new SignJWT(base).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(JSON.stringify(jwk)));
    await expect(verifyIdToken(hmac, keys, { ...expected, algorithms: ['HS256', 'ES256'] })).rejects.toThrow();
  });

  it('tolerates 30 s of clock skew, not more', async () => {
    const token = await sign({ ...base, iat: now - 400, exp: now - 20 });
    await expect(verifyIdToken(token, keys, expected)).resolves.toBeTruthy();
    await expect(verifyIdToken(token, keys, { ...expected, currentDate: new Date((now + 20) * 1000) })).rejects.toThrow();
  });
});
