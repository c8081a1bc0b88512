// Trading fees. Pure integer arithmetic: no floating-point rounding, exact for any
// non-negative safe-integer value (1e12 cents and far beyond).

/** The taker fee when the market has none configured: 0.50 %. */
export const DEFAULT_TAKER_FEE_BPS = 50;

/** 100 % in basis points: the largest fee accepted. */
export const MAX_FEE_BPS = 10_000;

/**
 * The fee the taker pays on a trade of `valueCents`: floor(valueCents * feeBps / 10000).
 * Rounded down so that the fees of an order's many fills never add up to more than the fee
 * reserved for its whole value (a sum of ceilings can exceed the ceiling of the sum by a cent
 * per fill). `valueCents` is a non-negative safe integer, `feeBps` an integer in 0..10000;
 * anything else is a RangeError.
 */
export function takerFee(valueCents: number, feeBps: number): number {
  if (!Number.isSafeInteger(valueCents) || valueCents < 0) {
    throw new RangeError(`valueCents must be a non-negative safe integer, got ${valueCents}`);
  }
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > MAX_FEE_BPS) {
    throw new RangeError(`feeBps must be an integer in 0..${MAX_FEE_BPS}, got ${feeBps}`);
  }
  // valueCents * feeBps may exceed 2^53 (1e12 * 1e4 = 1e16), so split the value at 10000:
  // value = high * 10000 + low, and value * bps / 10000 = high * bps + low * bps / 10000.
  // high * bps <= (2^53 / 1e4) * 1e4 stays exact, low * bps < 1e8 too.
  const low = valueCents % 10_000;
  const high = (valueCents - low) / 10_000; // exact: valueCents - low is a multiple of 10000
  const part = low * feeBps; // < 1e8
  const rest = part % 10_000;
  return high * feeBps + (part - rest) / 10_000;
}
