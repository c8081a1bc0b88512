import { badInput } from '@vibestream/platform';
import { tierRank, type FanTierLevel } from './tiers.ts';

export const MAX_TICKET_TYPES = 10;
export const MAX_TICKETS_PER_PURCHASE = 10;
export const MAX_CAPACITY = 1_000_000;
export const MAX_PRICE_CENTS = 10_000_000;

export interface SaleWindow {
  saleStartsAt: Date;
  presaleStartsAt: Date | null;
  presaleMinTier: FanTierLevel | null;
  presaleForShareholders: boolean;
}

export type SaleGate = 'OPEN' | 'PRESALE' | 'NOT_OPEN' | 'TIER_TOO_LOW';

/**
 * Whether a fan may buy now: the general sale is open to everyone from saleStartsAt; before it,
 * from presaleStartsAt, the presale is open to fans of presaleMinTier or above, or (when the type
 * says so) to holders of the artist's song shares; a presale with neither condition is open to all.
 */
export function saleGate(type: SaleWindow, now: Date, fan: { level: FanTierLevel; shares: number }): SaleGate {
  if (now >= type.saleStartsAt) return 'OPEN';
  if (!type.presaleStartsAt || now < type.presaleStartsAt) return 'NOT_OPEN';
  const gated = type.presaleMinTier !== null || type.presaleForShareholders;
  if (!gated) return 'PRESALE';
  if (type.presaleMinTier !== null && tierRank(fan.level) >= tierRank(type.presaleMinTier)) return 'PRESALE';
  if (type.presaleForShareholders && fan.shares > 0) return 'PRESALE';
  return 'TIER_TOO_LOW';
}

export interface TicketTypeInput {
  name: string;
  priceCents: number;
  capacity: number;
  saleStartsAt: Date;
  presaleStartsAt?: Date | null;
  presaleMinTier?: FanTierLevel | null;
  presaleForShareholders?: boolean | null;
}

export interface EventInput {
  title: string;
  venue: string;
  startsAt: Date;
  ticketTypes: TicketTypeInput[];
}

/** Checks an event's input; throws BAD_USER_INPUT naming the field. */
export function validateEventInput(input: EventInput, now: Date): EventInput {
  const title = input.title.trim();
  const venue = input.venue.trim();
  if (title.length < 1 || title.length > 200) throw badInput('title must be 1 to 200 characters', 'input.title');
  if (venue.length < 1 || venue.length > 200) throw badInput('venue must be 1 to 200 characters', 'input.venue');
  if (!(input.startsAt > now)) throw badInput('startsAt must be in the future', 'input.startsAt');
  if (input.ticketTypes.length < 1 || input.ticketTypes.length > MAX_TICKET_TYPES)
    throw badInput(`an event has 1 to ${MAX_TICKET_TYPES} ticket types`, 'input.ticketTypes');
  const ticketTypes = input.ticketTypes.map((t, i) => {
    const field = (f: string) => `input.ticketTypes[${i}].${f}`;
    const name = t.name.trim();
    if (name.length < 1 || name.length > 100) throw badInput('name must be 1 to 100 characters', field('name'));
    if (!Number.isInteger(t.priceCents) || t.priceCents < 0 || t.priceCents > MAX_PRICE_CENTS)
      throw badInput('priceCents must be 0 or more', field('priceCents'));
    if (!Number.isInteger(t.capacity) || t.capacity < 1 || t.capacity > MAX_CAPACITY) throw badInput('capacity must be at least 1', field('capacity'));
    if (t.saleStartsAt > input.startsAt) throw badInput('saleStartsAt must be before the event starts', field('saleStartsAt'));
    if (t.presaleStartsAt && t.presaleStartsAt > t.saleStartsAt) throw badInput('presaleStartsAt must be before saleStartsAt', field('presaleStartsAt'));
    if (!t.presaleStartsAt && (t.presaleMinTier || t.presaleForShareholders))
      throw badInput('a presale condition needs presaleStartsAt', field('presaleStartsAt'));
    return {
      name,
      priceCents: t.priceCents,
      capacity: t.capacity,
      saleStartsAt: t.saleStartsAt,
      presaleStartsAt: t.presaleStartsAt ?? null,
      presaleMinTier: t.presaleMinTier && t.presaleMinTier !== 'NONE' ? t.presaleMinTier : null,
      presaleForShareholders: t.presaleForShareholders ?? false,
    };
  });
  return { title, venue, startsAt: input.startsAt, ticketTypes };
}
