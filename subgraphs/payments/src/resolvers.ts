import { BigIntScalar, DateTimeScalar, forbidden, isSelfOrAdmin, keyOnlyReference, parseId, type BaseRequestContext } from '@vibestream/platform';
import { entitlementsOf, plans, type PlanDefinition } from './domain/plans.ts';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { PaymentsService } from './service.ts';

export interface PaymentsContext extends BaseRequestContext {
  service: PaymentsService;
}

/** A user known here by id (identity owns the entity). */
export interface UserRef {
  id: string;
}

export type PlanModel = PlanDefinition;

function ownData(ctx: PaymentsContext, userId: string): void {
  if (!isSelfOrAdmin(ctx.principal, userId)) throw forbidden('This belongs to another user');
}

const bigIntOrNull = (value: number | null) => (value === null ? null : String(value));

export const resolvers: Resolvers<PaymentsContext> = {
  DateTime: DateTimeScalar,
  BigInt: BigIntScalar,
  Query: {
    plans: () => [...plans],
  },
  Mutation: {
    startSubscriptionCheckout: (_root, { planId }, ctx) => ctx.service.startCheckout(ctx.principal, planId),
    openBillingPortal: (_root, _args, ctx) => ctx.service.openPortal(ctx.principal),
    createDeposit: (_root, { amountCents, method }, ctx) => ctx.service.createDeposit(ctx.principal, amountCents, method),
    confirmCryptoDeposit: (_root, { depositId, txHash }, ctx) => ctx.service.confirmCryptoDeposit(ctx.principal, parseId(depositId, 'depositId'), txHash),
  },
  Plan: {
    entitlements: (plan) => entitlementsOf(plan.id).map((e) => ({ key: e.key, limit: bigIntOrNull(e.limit) })),
  },
  Entitlement: {
    limit: (e) => bigIntOrNull(e.limit),
    used: (e) => bigIntOrNull(e.used),
  },
  Deposit: {
    amountCents: (d) => Number(d.amount_cents),
    clientSecret: (d) => d.client_secret ?? null,
    depositAddress: (d) => d.deposit_address,
    expectedBaseUnits: (d) => d.expected_base_units,
    txHash: (d) => d.tx_hash,
    createdAt: (d) => d.created_at,
  },
  Payment: {
    amountCents: (p) => Number(p.amount_cents),
    createdAt: (p) => p.created_at,
  },
  User: {
    __resolveReference: keyOnlyReference,
    subscription: (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.service.subscription(user.id);
    },
    entitlements: (user, _args, ctx) => {
      ownData(ctx, user.id);
      return ctx.service.entitlements(user.id);
    },
    payments: (user, { first, after }, ctx) => {
      ownData(ctx, user.id);
      return ctx.service.payments(user.id, first, after);
    },
  },
};
