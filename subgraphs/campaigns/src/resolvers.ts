import { DateTimeScalar, idOrNull, keyOnlyReference, pageSize, parseId, referenceById, type BaseRequestContext } from '@vibestream/platform';
import type { Resolvers } from './generated/resolvers-types.ts';
import type { Loaders } from './loaders.ts';
import { deploymentPending, type CampaignRow } from './model.ts';
import type { NftMetadata } from './nft/metadata.ts';
import type { CampaignsService } from './service/campaigns.ts';

export interface CampaignsContext extends BaseRequestContext {
  loaders: Loaders;
  campaigns: CampaignsService;
  metadata: NftMetadata;
}

const dropOf = (c: CampaignRow) => (c.edition_size === null ? null : c);

/** The drop's columns of a campaign resolved as an NftDrop (only one with a drop is: dropOf). */
function drop(c: CampaignRow): { name: string; symbol: string; editionSize: number; minListens: number } {
  if (c.drop_name === null || c.drop_symbol === null || c.edition_size === null || c.min_listens === null) throw new Error(`campaign ${c.id} has no NFT drop`);
  return { name: c.drop_name, symbol: c.drop_symbol, editionSize: c.edition_size, minListens: c.min_listens };
}

export const resolvers: Resolvers<CampaignsContext> = {
  DateTime: DateTimeScalar,
  Query: {
    campaign: (_root, { id }, ctx) => {
      const campaignId = idOrNull(id);
      return campaignId === null ? null : ctx.campaigns.campaign(ctx.principal, campaignId);
    },
    activeCampaigns: (_root, { first, after }, ctx) => ctx.campaigns.activeCampaigns(first, after),
  },
  Mutation: {
    createCampaign: (_root, { input }, ctx) => ctx.campaigns.createCampaign(ctx.principal, { ...input, songId: parseId(input.songId, 'input.songId') }),
    activateCampaign: (_root, { id }, ctx) => ctx.campaigns.activateCampaign(ctx.principal, parseId(id, 'id')),
    joinCampaign: (_root, { id, referralCode }, ctx) => ctx.campaigns.joinCampaign(ctx.principal, parseId(id, 'id'), referralCode),
    claimCampaignNft: (_root, { campaignId, walletAddress }, ctx) => ctx.campaigns.claimNft(ctx.principal, parseId(campaignId, 'campaignId'), walletAddress),
  },
  Campaign: {
    __resolveReference: referenceById((id, ctx: CampaignsContext) => ctx.campaigns.campaign(ctx.principal, id)),
    status: (c, _args, ctx) => ctx.campaigns.status(c),
    startsAt: (c) => c.starts_at,
    endsAt: (c) => c.ends_at,
    budgetCents: (c) => Number(c.budget_cents),
    song: (c) => ({ id: c.song_id }),
    artist: (c) => ({ id: c.artist_user_id }),
    nftDrop: (c) => dropOf(c),
    participantCount: (c, _args, ctx) => ctx.loaders.participantCount.load(c.id),
    myParticipation: (c, _args, ctx) => ctx.loaders.myParticipation.load(c.id),
    analytics: (c, _args, ctx) => {
      ctx.campaigns.assertMayReadAnalytics(ctx.principal, c);
      return ctx.loaders.analytics.load(c);
    },
    createdAt: (c) => c.created_at,
  },
  NftDrop: {
    name: (c) => drop(c).name,
    symbol: (c) => drop(c).symbol,
    editionSize: (c) => drop(c).editionSize,
    minListens: (c) => drop(c).minListens,
    minted: (c) => c.editions_claimed,
    remaining: (c) => drop(c).editionSize - c.editions_claimed,
    contractAddress: (c) => c.contract_address,
    deploying: (c) => deploymentPending(c),
    deployTxHash: (c) => c.deploy_tx_hash,
  },
  CampaignParticipation: {
    referralCode: (p) => p.referral_code,
    joinedAt: (p) => p.joined_at,
    referralCount: (p, _args, ctx) => ctx.loaders.referralCount.load(p.id),
    listens: (p, _args, ctx) => ctx.loaders.listens.load(p.id),
    nft: (p, _args, ctx) => ctx.loaders.mintByParticipant.load(p.id),
    // A participation exists only for a campaign that was activated, so it is never a hidden draft.
    campaign: async (p, _args, ctx) => {
      const campaign = await ctx.loaders.campaignById.load(p.campaign_id);
      if (!campaign) throw new Error(`participation ${p.id}'s campaign is gone`);
      return campaign;
    },
  },
  CampaignNft: {
    tokenId: (m) => String(m.edition_number),
    editionNumber: (m) => m.edition_number,
    walletAddress: (m) => m.wallet_address,
    contractAddress: (m) => m.contract_address,
    txHash: (m) => m.tx_hash,
    tokenUri: (m, _args, ctx) => ctx.metadata.tokenUri(m.campaign_id, String(m.edition_number)),
    mintedAt: (m) => m.minted_at,
  },
  Song: {
    __resolveReference: keyOnlyReference,
    campaigns: (song, { first }, ctx) => {
      const size = pageSize(first);
      return ctx.loaders.campaignsBySong.load(song.id).then((campaigns) => campaigns.slice(0, size));
    },
  },
  User: {
    __resolveReference: keyOnlyReference,
  },
};
