import type { Principal } from '@vibestream/platform';
import type { PaymentMethod } from './domain/deposits.ts';
import type { Stripe } from './stripe.ts';
import * as checkout from './use-cases/checkout.ts';
import type { PaymentsDeps } from './use-cases/deps.ts';
import * as deposits from './use-cases/deposits.ts';
import * as readModels from './use-cases/read-models.ts';
import * as stripeEvents from './use-cases/stripe-events.ts';

/**
 * payments' use cases, one module per group: checkout and portal (use-cases/checkout.ts),
 * card and USDC deposits (use-cases/deposits.ts), Stripe's webhooks (use-cases/stripe-events.ts)
 * and the read models (use-cases/read-models.ts). Each change runs through the kernel's
 * `useCase`; the SQL is in store.ts. This class only binds them to their dependencies.
 */
export type { PaymentsDeps } from './use-cases/deps.ts';
export type { PaymentRow, SubscriptionRow } from './store.ts';
export type { DepositModel } from './use-cases/deposits.ts';
export type { Connection, EntitlementModel, SubscriptionModel } from './use-cases/read-models.ts';
export type { SubscriptionView } from './use-cases/stripe-events.ts';

export class PaymentsService {
  private readonly deps: PaymentsDeps;

  constructor(deps: PaymentsDeps) {
    this.deps = deps;
  }

  // ---- Reading ----
  subscription = (userId: string) => readModels.subscription(this.deps.db.reader(), userId);
  entitlements = (userId: string) => readModels.entitlements(this.deps.db.reader(), userId);
  payments = (userId: string, first: number | null | undefined, after: string | null | undefined) =>
    readModels.payments(this.deps.db.reader(), userId, first, after);

  // ---- Stripe: checkout and portal ----
  startCheckout = (principal: Principal | null, planId: string) => checkout.startCheckout(this.deps, principal, planId);
  openPortal = (principal: Principal | null) => checkout.openPortal(this.deps, principal);

  // ---- Deposits ----
  createDeposit = (principal: Principal | null, amountCents: number, method: PaymentMethod) =>
    deposits.createDeposit(this.deps, principal, amountCents, method);
  confirmCryptoDeposit = (principal: Principal | null, depositId: string, txHash: string) =>
    deposits.confirmCryptoDeposit(this.deps, principal, depositId, txHash);

  // ---- Stripe webhooks ----
  applyStripeEvent = (event: Stripe.Event) => stripeEvents.applyStripeEvent(this.deps, event);
}
