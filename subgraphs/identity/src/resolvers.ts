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
} from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { Loaders } from './loaders.ts';
import type { IdentityService } from './service.ts';
import type { ApiKeyService } from './api-keys.ts';
import type { SocialSignIn } from './use-cases/social-sign-in.ts';
import type { EmailOwnership } from './use-cases/email-ownership.ts';
import type { PasskeyService } from './use-cases/passkeys.ts';

export interface IdentityContext extends BaseRequestContext {
  loaders: Loaders;
  service: IdentityService;
  apiKeys: ApiKeyService;
  socialSignIn: SocialSignIn;
  emailOwnership: EmailOwnership;
  /** Set by verifyEmail: the caller holds a link mailed to this user, so may read its emailVerified. */
  verifiedEmailOf?: string;
  passkeys: PasskeyService;
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
      return ctx.apiKeys.list(pageSize(first, MAX_PAGE_SIZE));
    },
    signInProviders: (_root, _args, ctx) => ctx.socialSignIn.list(),
  },
  Mutation: {
    register: (_root, { input }, ctx) => signIn(ctx, ctx.service.register(input)),
    login: (_root, { email, password }, ctx) => signIn(ctx, ctx.service.login(email, password, ctx.clientAddress)),
    refreshSession: (_root, { refreshToken }, ctx) => ctx.service.refresh(refreshToken),
    logout: (_root, _args, ctx) => ctx.service.logout(requireAuth(ctx.principal)),
    startSocialSignIn: (_root, { provider, redirectUri }, ctx) => ctx.socialSignIn.start(provider, redirectUri, ctx.clientAddress),
    completeSocialSignIn: (_root, { state, code }, ctx) => signIn(ctx, ctx.socialSignIn.complete(state, code)),
    requestEmailVerification: (_root, _args, ctx) => ctx.emailOwnership.requestEmailVerification(requireAuth(ctx.principal)),
    verifyEmail: async (_root, { token }, ctx) => {
      const user = await ctx.emailOwnership.verifyEmail(token);
      ctx.verifiedEmailOf = user.id;
      return user;
    },
    requestPasswordReset: (_root, { email }, ctx) => ctx.emailOwnership.requestPasswordReset(email, ctx.clientAddress),
    resetPassword: (_root, { token, newPassword }, ctx) => signIn(ctx, ctx.emailOwnership.resetPassword(token, newPassword)),
    changeEmail: (_root, { newEmail, currentPassword }, ctx) => ctx.emailOwnership.changeEmail(requireAuth(ctx.principal), newEmail, currentPassword),
    walletChallenge: (_root, { chain, address }, ctx) => ctx.service.walletChallenge(requireAuth(ctx.principal), chain, address),
    linkWallet: (_root, { chain, address, signature }, ctx) => ctx.service.linkWallet(requireAuth(ctx.principal), chain, address, signature),
    setUserRoles: (_root, { userId, roles }, ctx) => {
      requireRole(ctx.principal, 'ADMIN');
      return ctx.service.setUserRoles(parseId(userId, 'userId'), roles);
    },
    createApiKey: (_root, { name }, ctx) => ctx.apiKeys.create(requireRole(ctx.principal, 'ADMIN'), name),
    revokeApiKey: (_root, { id }, ctx) => ctx.apiKeys.revoke(requireRole(ctx.principal, 'ADMIN'), parseId(id, 'id')),
    startPasskeyRegistration: (_root, _args, ctx) => ctx.passkeys.startRegistration(requireAuth(ctx.principal)),
    finishPasskeyRegistration: (_root, { response, name }, ctx) => ctx.passkeys.finishRegistration(requireAuth(ctx.principal), response, name),
    startPasskeySignIn: (_root, { email }, ctx) => ctx.passkeys.startSignIn(email, ctx.clientAddress),
    finishPasskeySignIn: (_root, { challengeId, response }, ctx) =>
      signIn(ctx, ctx.passkeys.finishSignIn(parseId(challengeId, 'challengeId'), response, ctx.clientAddress)),
    removePasskey: (_root, { id }, ctx) => ctx.passkeys.remove(requireAuth(ctx.principal), parseId(id, 'id')),
  },
  User: {
    __resolveReference: referenceById((id, ctx: IdentityContext) => ctx.loaders.user.load(id)),
    roles: (user) => user.roles,
    email: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return user.email;
    },
    emailVerified: (user, _args, ctx) => {
      if (ctx.verifiedEmailOf !== user.id) assertOwnData(ctx, user.id);
      return user.emailVerifiedAt !== null;
    },
    wallets: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return ctx.loaders.walletsByUser.load(user.id);
    },
    linkedProviders: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return ctx.loaders.linkedProvidersByUser.load(user.id);
    },
    passkeys: (user, _args, ctx) => {
      assertOwnData(ctx, user.id);
      return ctx.loaders.passkeysByUser.load(user.id);
    },
  },
};
