import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

// ---- Published by loyalty ----

/**
 * Tickets were reserved for a purchase (capacity held in loyalty): ownership debits the buyer's
 * trading-account cash once per `purchaseId`, credits the event's artist, and answers with
 * ownership.ticket_payment.succeeded.v1 or .failed.v1 (loyalty then issues or releases).
 */
export const TicketReserved = defineEvent(
  'loyalty.ticket.reserved.v1',
  z.object({
    purchaseId: z.uuid(),
    userId: z.uuid(),
    artistUserId: z.uuid(),
    ticketTypeId: z.uuid(),
    quantity: z.number().int().positive(),
    amountCents: z.number().int().positive(),
    reservedAt: z.iso.datetime(),
  }),
);

export const publishes = [TicketReserved];
