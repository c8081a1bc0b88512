import { z } from 'zod';
import { defineEvent } from '@vibestream/platform';

// ---- Published by campaigns ----

/** A campaign NFT was minted to a participant (notifications: CAMPAIGN_NFT_MINTED). */
export const CampaignNftMinted = defineEvent(
  'campaigns.nft.minted.v1',
  z.object({
    campaignId: z.uuid(),
    campaignName: z.string(),
    songId: z.uuid(),
    userId: z.uuid(),
    walletAddress: z.string(),
    editionNumber: z.number().int().positive(),
    editionSize: z.number().int().positive(),
    tokenId: z.string(),
    contractAddress: z.string().nullable(),
    txHash: z.string().nullable(),
    mintedAt: z.iso.datetime(),
  }),
);

/**
 * A fan joined a campaign (once per participant: only the join that created the participation records it).
 * discovery counts it as the user's interaction with the campaign's song.
 */
export const CampaignParticipantJoined = defineEvent(
  'campaigns.participant.joined.v1',
  z.object({ campaignId: z.uuid(), songId: z.uuid(), userId: z.uuid(), joinedAt: z.iso.datetime() }),
);

export const publishes = [CampaignNftMinted, CampaignParticipantJoined];
