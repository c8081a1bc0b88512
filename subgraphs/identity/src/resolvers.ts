import {
  DateTimeScalar,
  MAX_PAGE_SIZE,
  pageSize,
  parseId,
  referenceById,
  requireAuth,
  requireRole,
  requireSelfOrAdmin,
  type BaseRequestContext,
  type EntityManager,
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { Role } from './domain/registration.ts';
import type { Loaders } from './loaders.ts';
import type { IdentityService } from './service.ts';
import type { ApiKeyService } from './api-keys.ts';

export interface IdentityContext extends BaseRequestContext {
  em: EntityManager;
  loaders: Loaders;
  service: IdentityService;
  apiKeys: ApiKeyService;
  /** Set by register and login: the payload's user is the caller, though no token came with the request. */
  signedInAs?: string;
}

/** A person's own data: for them (by token, or the sign-in that just happened) or an ADMIN. */
function assertOwnData(ctx: IdentityContext, userId: string): void {
  if (ctx.signedInAs === userId) return;
  requireSelfOrAdmin(ctx.principal, userId);
}

async function signIn<T extends { user: { id: string } }>(ctx: IdentityContext, session: Promise<T>): Promise<T> {
  const result = await session;
  ctx.signedInAs = result.user.id;
  return result;
}

export const resolvers: Resolvers<IdentityContext> = {
  DateTime: DateTimeScalar,
  Query: {
    me: async (_root, _args, ctx) => {
      const principal = requireAuth(ctx.principal);
      return ctx.loaders.user.load(principal.userId);
    },
    apiKeys: (_root, { first }, ctx) => {
      requireRole(ctx.principal, 'ADMIN');
      return ctx.apiKeys.list(ctx.em, pageSize(first, MAX_PAGE_SIZE));
    },
  },
  Mutation: {
    register: (_root, { input }, ctx) => signIn(ctx, ctx.service.register(ctx.em, input)),
    login: (_root, { email, password }, ctx) => signIn(ctx, ctx.service.login(ctx.em, email, password, ctx.clientAddress)),
    refreshSession: (_root, { refreshToken }, ctx) => ctx.service.refresh(ctx.em, refreshToken),
    logout: (_root, _args, ctx) => ctx.service.logout(ctx.em, requireAuth(ctx.principal)),
    walletChallenge: (_root, { chain, address }, ctx) => ctx.service.walletChallenge(ctx.em, requireAuth(ctx.principal), chain, address),
    linkWallet: (_root, { chain, address, signature }, ctx) =>
      ctx.service.linkWallet(ctx.em, requireAuth(ctx.principal), chain, address, signature),
    setUserRoles: (_root, { userId, roles }, ctx) => {
      requireRole(ctx.principal, 'ADMIN');
      return ctx.service.setUserRoles(ctx.em, parseId(userId, 'userId'), roles);
    },
    createApiKey: (_root, { name }, ctx) => ctx.apiKeys.create(ctx.em, requireRole(ctx.principal, 'ADMIN'), name),
    revokeApiKey: (_root, { id }, ctx) => ctx.apiKeys.revoke(ctx.em, requireRole(ctx.principal, 'ADMIN'), parseId(id, 'id')),
  },
  User: {
    __resolveReference: referenceById((id, ctx: IdentityContext) => ctx.loaders.user.load(id)),
    roles: (user) => user.roles as Role[],
    email: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return user.email;
    },
    wallets: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return ctx.loaders.walletsByUser.load(user.id);
    },
  },
};
