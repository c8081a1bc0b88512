/** Number formatting for notification text: integer-exact, English, no locale data needed. */

/** 1234567 → "1,234,567". */
export function groupThousands(digits: string | number | bigint): string {
  const text = String(digits);
  return text.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Integer cents → "$1,234.56". */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not a whole number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}$${groupThousands(Math.floor(abs / 100))}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * A token amount in base units (a decimal string) → whole tokens, exact: "10000000000000000"
 * with 18 decimals is "0.01"; trailing zeros of the fraction are dropped, thousands grouped.
 */
export function formatTokenAmount(baseUnits: string, decimals: number): string {
  if (!/^\d+$/.test(baseUnits)) throw new RangeError(`not a base-unit amount: ${baseUnits}`);
  if (!Number.isInteger(decimals) || decimals < 0) throw new RangeError(`bad decimals: ${decimals}`);
  const value = BigInt(baseUnits);
  const unit = 10n ** BigInt(decimals);
  const whole = groupThousands(value / unit);
  const fraction = decimals === 0 ? '' : (value % unit).toString().padStart(decimals, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

/** "1 share", "12 shares", "1,200 shares". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${groupThousands(count)} ${count === 1 ? one : many}`;
}

/** A date as "December 31, 2026" (UTC, as every DateTime of the contract). */
export function formatDay(iso: string): string {
  return new Intl.DateTimeFormat('en-US', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(iso));
}

/** "0x1234567890abcdef…" → "0x1234…cdef"; short addresses stay whole. */
export function shortAddress(address: string): string {
  return address.length > 14 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}
