// How amounts read on screen and how people type them.

export function formatCents(cents: number | null | undefined): string {
  if (cents === null || cents === undefined) return '—';
  return `$${(cents / 100).toFixed(2)}`;
}

/** "12.34" dollars → 1234 cents; NaN when it is not a money amount. */
export function parseDollars(text: string): number {
  const trimmed = text.trim().replace(/^\$/, '');
  if (!/^\d+(\.\d{1,2})?$/.test(trimmed)) return Number.NaN;
  return Math.round(Number(trimmed) * 100);
}

/** The reward token's decimals (an ERC-20 with 18, like the one rewards pays out on chain). */
const TOKEN_DECIMALS = 18n;

/** Base units as a readable amount of reward tokens. */
export function formatTokens(baseUnits: string): string {
  const unit = 10n ** TOKEN_DECIMALS;
  const value = BigInt(baseUnits);
  const fraction = (value % unit).toString().padStart(Number(TOKEN_DECIMALS), '0').replace(/0+$/, '').slice(0, 6);
  const amount = fraction ? `${value / unit}.${fraction}` : (value / unit).toString();
  return `${amount} reward token${amount === '1' ? '' : 's'}`;
}
