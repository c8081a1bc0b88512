import { createFailureLimiter, createMailer, createTokenVerifier, defineSubgraph, ensureDevSecret, sendJson, startJobWorker } from '@vibestream/platform';
import { ApiKeyService } from './api-keys.ts';
import { loadIdentityConfig } from './config.ts';
import { identityJobHandlers } from './email-mails.ts';
import { createLoaders } from './loaders.ts';
import { migrations } from './migrations.ts';
import { resolvers, type IdentityContext } from './resolvers.ts';
import { IdentityService } from './service.ts';
import { TokenIssuer } from './token-issuer.ts';
import { EmailOwnership } from './use-cases/email-ownership.ts';
import { PasskeyService } from './use-cases/passkeys.ts';
import { SocialSignIn } from './use-cases/social-sign-in.ts';
import { formPostRoute } from './oidc-form-post-route.ts';

export const JWKS_PATH = '/.well-known/jwks.json';
/** Name of the development INTERNAL_API_TOKEN under `.data/keys/` (`ensureDevSecret`); the gateway uses the same. */
export const INTERNAL_API_TOKEN_SECRET = 'internal-api-token';

export const identitySubgraph = defineSubgraph({
  name: 'identity',
  defaultPort: 4001,
  schema: new URL('../schema.graphql', import.meta.url),
  resolvers,
  loadConfig: loadIdentityConfig,
  database: { migrations },
  setup: async ({ persistence, config, log, infra, env }) => {
    const db = persistence;
    const issuer = await TokenIssuer.create(config.JWT_PRIVATE_KEY, {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    });
    const service = new IdentityService({
      db,
      config,
      issuer,
      limiter: createFailureLimiter(infra.redis, infra.prefix, config.LOGIN_FAILURE_WINDOW_SECONDS),
      revocations: infra.revocations,
      log,
    });
    const apiKeys = new ApiKeyService({ db, log });
    const emailOwnership = new EmailOwnership({
      db,
      config,
      sessions: service,
      limiter: createFailureLimiter(infra.redis, infra.prefix, config.EMAIL_LIMIT_WINDOW_SECONDS),
      revocations: infra.revocations,
      log,
    });
    const mailer = createMailer(config, log);
    const passkeys = new PasskeyService({
      db,
      config,
      identity: service,
      limiter: createFailureLimiter(infra.redis, infra.prefix, config.LOGIN_FAILURE_WINDOW_SECONDS),
      log,
    });
    const socialSignIn = new SocialSignIn({
      db,
      config,
      sessions: service,
      limiter: createFailureLimiter(infra.redis, infra.prefix, config.OIDC_STATE_TTL_SECONDS),
      revocations: infra.revocations,
      log,
    });
    const internalToken = config.INTERNAL_API_TOKEN ?? (await ensureDevSecret(env, INTERNAL_API_TOKEN_SECRET, log));
    await service.ensureAdmin();
    return {
      // identity verifies with its own key, so it needs no JWT_PUBLIC_KEY.
      verifier: await createTokenVerifier({ jwks: issuer.jwks(), issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, revocations: infra.revocations }),
      context: ({ em: _em, ...base }): IdentityContext => ({
        ...base,
        loaders: createLoaders(db.reader()),
        service,
        apiKeys,
        passkeys,
        emailOwnership,
        socialSignIn,
      }),
      routes: [
        { method: 'GET', path: JWKS_PATH, handle: (_req, res) => sendJson(res, 200, issuer.jwks(), { 'cache-control': 'public, max-age=300' }) },
        apiKeys.verifyRoute(internalToken),
        formPostRoute(),
      ],
      // identity's mails (src/email-mails.ts), sent by its job worker.
      background: () =>
        startJobWorker(db, {
          handlers: identityJobHandlers({ mailer, mailPasswordReset: (request) => emailOwnership.mailPasswordReset(request) }),
          log,
        }),
      stop: async () => mailer.close(),
    };
  },
});
