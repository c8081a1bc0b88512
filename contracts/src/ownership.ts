import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

// ---- Published by ownership ----

export const TradeExecuted = defineEvent(
  'ownership.trade.executed.v1',
  z.object({
    tradeId: z.uuid(),
    songId: z.uuid(),
    buyerId: z.uuid(),
    sellerId: z.uuid(),
    buyOrderId: z.uuid(),
    sellOrderId: z.uuid(),
    priceCents: z.number().int().positive(),
    quantity: z.number().int().positive(),
    executedAt: z.iso.datetime(),
  }),
);

/**
 * An order traded, fully or partly, in one execution: one event per order per placeOrder that
 * filled it (notifications: "Your order for 12 shares of … filled at $1.25").
 * `quantity` and `averagePriceCents` are this execution's; `filledQuantity` is the order's total so far.
 */
export const OrderFilled = defineEvent(
  'ownership.order.filled.v1',
  z.object({
    orderId: z.uuid(),
    userId: z.uuid(),
    songId: z.uuid(),
    side: z.enum(['BUY', 'SELL']),
    quantity: z.number().int().positive(),
    averagePriceCents: z.number().int().positive(),
    orderQuantity: z.number().int().positive(),
    filledQuantity: z.number().int().positive(),
    fullyFilled: z.boolean(),
  }),
);

export const RevenuePaid = defineEvent(
  'ownership.revenue.paid.v1',
  z.object({
    distributionId: z.uuid(),
    songId: z.uuid(),
    userId: z.uuid(),
    amountCents: z.number().int().nonnegative(),
    shares: z.number().int().positive(),
    periodLabel: z.string(),
  }),
);

/** Shares bought from a song's offering (a primary purchase), once per purchase. */
export const OfferingSharesBought = defineEvent(
  'ownership.offering.shares_bought.v1',
  z.object({
    offeringId: z.uuid(),
    songId: z.uuid(),
    userId: z.uuid(),
    quantity: z.number().int().positive(),
    costCents: z.number().int().nonnegative(),
  }),
);

/** A ticket purchase's cash was debited (once per purchaseId): loyalty issues its tickets. */
export const TicketPaymentSucceeded = defineEvent(
  'ownership.ticket_payment.succeeded.v1',
  z.object({ purchaseId: z.uuid(), userId: z.uuid(), amountCents: z.number().int().positive() }),
);

/** A ticket purchase could not be paid (nothing was debited): loyalty releases its reservation. */
export const TicketPaymentFailed = defineEvent(
  'ownership.ticket_payment.failed.v1',
  z.object({ purchaseId: z.uuid(), userId: z.uuid(), reason: z.enum(['INSUFFICIENT_FUNDS', 'NO_ACCOUNT']) }),
);

export const publishes = [TradeExecuted, OrderFilled, OfferingSharesBought, RevenuePaid, TicketPaymentSucceeded, TicketPaymentFailed];
