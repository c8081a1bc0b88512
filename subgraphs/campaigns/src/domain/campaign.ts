// Pure rules of a campaign: lifecycle, input limits, referral codes, claims and analytics. No I/O.

export const campaignStatuses = ['DRAFT', 'ACTIVE', 'ENDED'] as const;
export type CampaignStatus = (typeof campaignStatuses)[number];

export const LIMITS = {
  nameLength: 120,
  descriptionLength: 2000,
  dropNameLength: 100,
  maxEditionSize: 100_000,
  maxMinListens: 100_000,
  /** budgetCents is a GraphQL Int. */
  maxBudgetCents: 2_147_483_647,
} as const;

/** The status a reader sees: an ACTIVE campaign is ENDED from endsAt on, before the sweep persists it. */
export function effectiveStatus(stored: CampaignStatus, endsAt: Date, now: Date): CampaignStatus {
  return stored === 'ACTIVE' && now.getTime() >= endsAt.getTime() ? 'ENDED' : stored;
}

export interface CampaignInput {
  name: string;
  description?: string | null;
  startsAt: Date;
  endsAt: Date;
  budgetCents: number;
  nftDrop?: { name: string; symbol: string; editionSize: number; minListens: number } | null;
}

export interface InputProblem {
  field: string;
  message: string;
}

/** Every problem with a createCampaign input, first one first (an empty list when it is valid). */
export function campaignInputProblems(input: CampaignInput, now: Date): InputProblem[] {
  const problems: InputProblem[] = [];
  const name = input.name.trim();
  if (name.length < 1 || name.length > LIMITS.nameLength) problems.push({ field: 'input.name', message: `name must be 1 to ${LIMITS.nameLength} characters` });
  if (input.description != null && input.description.length > LIMITS.descriptionLength) {
    problems.push({ field: 'input.description', message: `description must be at most ${LIMITS.descriptionLength} characters` });
  }
  if (input.endsAt.getTime() <= input.startsAt.getTime()) problems.push({ field: 'input.endsAt', message: 'endsAt must be after startsAt' });
  else if (input.endsAt.getTime() <= now.getTime()) problems.push({ field: 'input.endsAt', message: 'endsAt must be in the future' });
  if (!Number.isInteger(input.budgetCents) || input.budgetCents < 0)
    problems.push({ field: 'input.budgetCents', message: 'budgetCents must be a whole, non-negative number of cents' });
  const drop = input.nftDrop;
  if (drop) {
    const dropName = drop.name.trim();
    if (dropName.length < 1 || dropName.length > LIMITS.dropNameLength)
      problems.push({ field: 'input.nftDrop.name', message: `nftDrop.name must be 1 to ${LIMITS.dropNameLength} characters` });
    if (!/^[A-Z0-9]{1,11}$/.test(drop.symbol))
      problems.push({ field: 'input.nftDrop.symbol', message: 'nftDrop.symbol must be 1 to 11 capital letters or digits' });
    if (!Number.isInteger(drop.editionSize) || drop.editionSize < 1 || drop.editionSize > LIMITS.maxEditionSize) {
      problems.push({ field: 'input.nftDrop.editionSize', message: `nftDrop.editionSize must be between 1 and ${LIMITS.maxEditionSize}` });
    }
    if (!Number.isInteger(drop.minListens) || drop.minListens < 0 || drop.minListens > LIMITS.maxMinListens) {
      problems.push({ field: 'input.nftDrop.minListens', message: `nftDrop.minListens must be between 0 and ${LIMITS.maxMinListens}` });
    }
  }
  return problems;
}

/** Who may do what with a campaign in a given state; `null` means allowed. */
export type Refusal = { code: 'FORBIDDEN' | 'CONFLICT' | 'NOT_FOUND' | 'BAD_USER_INPUT'; message: string; field?: string };

export function activationRefusal(c: { status: CampaignStatus; endsAt: Date; isArtist: boolean }, now: Date): Refusal | null {
  if (!c.isArtist) return { code: 'FORBIDDEN', message: "Only the campaign's artist may activate it" };
  if (c.status !== 'DRAFT') return { code: 'CONFLICT', message: `The campaign is ${c.status}, not DRAFT` };
  if (now.getTime() >= c.endsAt.getTime()) return { code: 'CONFLICT', message: 'The campaign has already passed its endsAt' };
  return null;
}

export function joinRefusal(c: { status: CampaignStatus; startsAt: Date; isArtist: boolean }, now: Date): Refusal | null {
  if (c.isArtist) return { code: 'FORBIDDEN', message: 'Artists cannot join their own campaign' };
  if (c.status !== 'ACTIVE') return { code: 'CONFLICT', message: `The campaign is ${c.status}; only ACTIVE campaigns can be joined` };
  if (now.getTime() < c.startsAt.getTime()) return { code: 'CONFLICT', message: `The campaign starts at ${c.startsAt.toISOString()}` };
  return null;
}

/** A referral code given on join must name another participant of the same campaign. */
export function referralRefusal(referrer: { userId: string; campaignId: string } | null, joiner: { userId: string; campaignId: string }): Refusal | null {
  if (!referrer || referrer.campaignId !== joiner.campaignId) return { code: 'BAD_USER_INPUT', message: 'Unknown referral code', field: 'referralCode' };
  if (referrer.userId === joiner.userId) return { code: 'BAD_USER_INPUT', message: 'You cannot use your own referral code', field: 'referralCode' };
  return null;
}

export interface ClaimState {
  status: CampaignStatus;
  drop: { editionSize: number; minListens: number } | null;
  /** Null when the caller has not joined. */
  participant: { listens: number; claimed: boolean } | null;
  editionsClaimed: number;
}

/**
 * The order matters: a second claim is CONFLICT whatever else holds; eligibility (FORBIDDEN) is
 * decided before availability, so a fan below minListens learns that, not "sold out".
 */
export function claimRefusal(s: ClaimState): Refusal | null {
  if (!s.drop) return { code: 'CONFLICT', message: 'This campaign has no NFT drop' };
  if (s.status !== 'ACTIVE') return { code: 'CONFLICT', message: `The campaign is ${s.status}; NFTs can only be claimed while it is ACTIVE` };
  if (!s.participant) return { code: 'FORBIDDEN', message: 'Join the campaign before claiming its NFT' };
  if (s.participant.claimed) return { code: 'CONFLICT', message: 'You have already claimed this NFT' };
  if (s.participant.listens < s.drop.minListens) {
    return { code: 'FORBIDDEN', message: `Claiming needs ${s.drop.minListens} completed listens of the song since joining; you have ${s.participant.listens}` };
  }
  if (s.editionsClaimed >= s.drop.editionSize) return { code: 'CONFLICT', message: 'This NFT drop is sold out' };
  return null;
}

/** The edition a successful claim takes: the next one, never beyond the drop. */
export function nextEdition(editionsClaimed: number, editionSize: number): number {
  if (editionsClaimed >= editionSize) throw new Error('no edition left');
  return editionsClaimed + 1;
}

// Referral codes: 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L).
const REFERRAL_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const REFERRAL_CODE_LENGTH = 8;

export function referralCodeFrom(randomBytes: Uint8Array): string {
  if (randomBytes.length < REFERRAL_CODE_LENGTH) throw new Error(`need ${REFERRAL_CODE_LENGTH} random bytes`);
  let code = '';
  // 256 is not a multiple of 31: the bias (at most 1 in 8 for some letters) does not matter for codes that are checked, not secret.
  for (let i = 0; i < REFERRAL_CODE_LENGTH; i++) code += REFERRAL_ALPHABET[randomBytes[i]! % REFERRAL_ALPHABET.length];
  return code;
}

/** What a user typed: case and surrounding spaces do not matter. */
export function normaliseReferralCode(code: string): string {
  return code.trim().toUpperCase();
}

export interface AnalyticsCounts {
  participants: number;
  referrals: number;
  listens: number;
  nftsMinted: number;
  claimants: number;
}

export interface CampaignAnalytics {
  participants: number;
  referrals: number;
  listens: number;
  nftsMinted: number;
  conversionRate: number;
  costPerListenCents: number | null;
}

export function analytics(counts: AnalyticsCounts, budgetCents: number): CampaignAnalytics {
  return {
    participants: counts.participants,
    referrals: counts.referrals,
    listens: counts.listens,
    nftsMinted: counts.nftsMinted,
    conversionRate: counts.participants === 0 ? 0 : counts.claimants / counts.participants,
    costPerListenCents: counts.listens === 0 ? null : budgetCents / counts.listens,
  };
}

/** ERC-721 metadata JSON (the common OpenSea shape) of one edition. */
export function tokenMetadata(t: { dropName: string; campaignName: string; songTitle: string; editionNumber: number; editionSize: number }) {
  return {
    name: `${t.dropName} #${t.editionNumber}`,
    description: `Edition ${t.editionNumber} of ${t.editionSize} from the campaign "${t.campaignName}" for "${t.songTitle}".`,
    song: t.songTitle,
    campaign: t.campaignName,
    editionNumber: t.editionNumber,
    editionSize: t.editionSize,
    attributes: [
      { trait_type: 'Song', value: t.songTitle },
      { trait_type: 'Campaign', value: t.campaignName },
      { trait_type: 'Edition', value: t.editionNumber, max_value: t.editionSize, display_type: 'number' },
    ],
  };
}
