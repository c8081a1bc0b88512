import { badInput, type Logger, type Persistence, type ProjectionWaits } from '@vibestream/platform';
import type { DepositChain } from '../chains.ts';
import type { CryptoMethod } from '../domain/deposits.ts';
import type { PriceMap } from '../domain/plans.ts';
import type { Stripe } from '../stripe.ts';

/** What payments' use cases run with: their data, Stripe, the chains, the configured urls and the projection waits. */
export interface PaymentsDeps {
  db: Persistence;
  stripe: Stripe | null;
  prices: PriceMap;
  chains: Partial<Record<CryptoMethod, DepositChain>>;
  urls: { checkoutSuccess: string; checkoutCancel: string; portalReturn: string };
  log: Logger;
  /** Read-your-writes: a deposit waits, bounded, for payments' projection of a wallet identity just linked. */
  projections: ProjectionWaits;
}

export function requireStripe(deps: PaymentsDeps, field?: string): Stripe {
  if (!deps.stripe) throw badInput('Card payments are not available on this server (Stripe is not configured)', field);
  return deps.stripe;
}
