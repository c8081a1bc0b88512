/** Market statistics from trades, as pure functions. */
export interface TradePoint {
  priceCents: number;
  quantity: number;
  executedAt: Date;
}

/**
 * Time-weighted average price over [now - window, now]: each price counts for as long as it
 * was the last trade price. The price in force at the window's start (the last trade before
 * it) counts from the start. null when no trade ever happened by `now`.
 */
export function twap(before: TradePoint | null, inWindow: TradePoint[], now: Date, windowMinutes: number): number | null {
  const start = now.getTime() - windowMinutes * 60_000;
  const points = [...inWindow].sort((a, b) => a.executedAt.getTime() - b.executedAt.getTime());
  let current = before?.priceCents ?? null;
  let from = start;
  let weighted = 0;
  let covered = 0;
  for (const point of points) {
    const at = Math.max(start, point.executedAt.getTime());
    if (current !== null && at > from) {
      weighted += current * (at - from);
      covered += at - from;
    }
    current = point.priceCents;
    from = at;
  }
  if (current === null) return null;
  const end = now.getTime();
  if (end > from) {
    weighted += current * (end - from);
    covered += end - from;
  }
  return covered > 0 ? Math.round(weighted / covered) : current;
}

/** Pro-rata split of a revenue amount over holders by shares; unsold shares' part and rounding go to the artist. */
export function splitRevenue(amountCents: number, totalShares: number, holders: { userId: string; shares: number }[]) {
  const payouts = holders
    .filter((h) => h.shares > 0)
    .map((h) => ({ userId: h.userId, shares: h.shares, amountCents: Number((BigInt(amountCents) * BigInt(h.shares)) / BigInt(totalShares)) }));
  const paid = payouts.reduce((sum, p) => sum + p.amountCents, 0);
  return { payouts, artistRemainderCents: amountCents - paid };
}
