/**
 * Fan tiers per artist: a score from what a fan did around the artist's songs, and the level it
 * reaches. Pure: the signals come from events (rewards' listens, ownership's trades, campaigns' NFTs).
 */
export const fanTierLevels = ['NONE', 'BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const;
export type FanTierLevel = (typeof fanTierLevels)[number];

/** The score at which each level starts. */
export const TIER_THRESHOLDS: Readonly<Record<Exclude<FanTierLevel, 'NONE'>, number>> = { BRONZE: 10, SILVER: 100, GOLD: 500, PLATINUM: 2000 };

/** Points per signal. */
export const TIER_WEIGHTS = { listen: 1, share: 5, campaignNft: 20 } as const;

export interface FanSignals {
  /** Completed listens of the artist's songs. */
  listens: number;
  /** Shares of the artist's songs held now (bought minus sold). */
  shares: number;
  /** Campaign NFTs of the artist's campaigns. */
  campaignNfts: number;
}

export interface FanTier {
  level: FanTierLevel;
  score: number;
  /** The score at which the next level starts; null at the top. */
  nextLevelAt: number | null;
}

export function fanScore(s: FanSignals): number {
  return Math.max(0, s.listens) * TIER_WEIGHTS.listen + Math.max(0, s.shares) * TIER_WEIGHTS.share + Math.max(0, s.campaignNfts) * TIER_WEIGHTS.campaignNft;
}

export function tierOf(score: number): FanTier {
  let level: FanTierLevel = 'NONE';
  for (const l of fanTierLevels.slice(1) as Exclude<FanTierLevel, 'NONE'>[]) if (score >= TIER_THRESHOLDS[l]) level = l;
  const next = fanTierLevels[fanTierLevels.indexOf(level) + 1] as Exclude<FanTierLevel, 'NONE'> | undefined;
  return { level, score, nextLevelAt: next ? TIER_THRESHOLDS[next] : null };
}

export const tierRank = (level: FanTierLevel): number => fanTierLevels.indexOf(level);
