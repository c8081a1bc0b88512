// What identity's use-case tests share: the IdentityService as the app builds it from a config, and
// accounts with the Principal their session's access token gives.
import { randomUUID } from 'node:crypto';
import { MemorySessionRevocations, type FailureLimiter, type Principal, type SessionRevocations } from '@vibestream/platform';
import type { ContextHarness } from '@vibestream/testkit';
import type { IdentityConfig } from '../src/config.ts';
import { IdentityService } from '../src/service.ts';
import * as store from '../src/store.ts';
import { TokenIssuer } from '../src/token-issuer.ts';

/** The IdentityService on the harness's schema, its tokens signed with the config's key and lifetime. */
export async function identityServiceOf(
  h: ContextHarness,
  config: IdentityConfig,
  deps: { limiter: FailureLimiter; revocations?: SessionRevocations },
): Promise<IdentityService> {
  const issuer = await TokenIssuer.create(config.JWT_PRIVATE_KEY, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  return new IdentityService({ db: h.db, config, issuer, limiter: deps.limiter, revocations: deps.revocations ?? new MemorySessionRevocations(), log: h.log });
}

/** The Principal a fresh access token of a fan's session gives. */
export function fanPrincipal(userId: string): Principal {
  return { userId, roles: ['FAN'], sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 900 };
}

let accounts = 0;
/** A fan's account (`<prefix>-<n>@example.com`), written as registration writes it, and the Principal its access token gives. */
export async function insertAccount(h: ContextHarness, prefix: string): Promise<Principal & { email: string }> {
  const email = `${prefix}-${++accounts}@example.com`;
  const id = randomUUID();
  await h.db.useCase((tx) =>
    store.insertUser(tx, {
      id,
      email,
      emailNormalized: email,
      passwordHash: 'not-used',
      displayName: `User ${accounts}`,
      roles: ['FAN'],
      createdAt: new Date(),
    }),
  );
  return { ...fanPrincipal(id), email };
}
