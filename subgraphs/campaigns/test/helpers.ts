import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { eventually, publishEvent, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/rewards/events';
import { makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';

export { newArtist, signUp };

export const CREATE = `mutation CreateCampaign($input: CreateCampaignInput!) {
  createCampaign(input: $input) { id name status startsAt endsAt budgetCents song { id title } nftDrop { editionSize minListens minted } } }`;
export const ACTIVATE = `mutation ActivateCampaign($id: ID!) { activateCampaign(id: $id) { id status nftDrop { contractAddress } } }`;
export const JOIN = `mutation JoinCampaign($id: ID!, $referralCode: String) { joinCampaign(id: $id, referralCode: $referralCode) { id referralCode joinedAt } }`;
export const CLAIM = `mutation ClaimCampaignNft($campaignId: ID!, $walletAddress: String!) {
  claimCampaignNft(campaignId: $campaignId, walletAddress: $walletAddress) { tokenId contractAddress txHash status editionNumber walletAddress tokenUri } }`;
export const CAMPAIGN = `query Campaign($id: ID!) { campaign(id: $id) { id name status participantCount
  nftDrop { editionSize minted remaining contractAddress }
  myParticipation { id referralCode referralCount listens nft { tokenId status txHash } }
  analytics { participants referrals listens nftsMinted conversionRate costPerListenCents } } }`;
export const MY_LISTENS = `query($id: ID!) { campaign(id: $id) { myParticipation { listens } } }`;
export const ACTIVE = `query ActiveCampaigns { activeCampaigns(first: 20) { totalCount edges { node { id name endsAt song { id title artist { name } } } } } }`;
export const SONG_CAMPAIGNS = `query($id: ID!) { song(id: $id) { id title campaigns { id name status } } }`;

export type Claimed = {
  claimCampaignNft: {
    tokenId: string;
    contractAddress: string | null;
    txHash: string | null;
    status: string;
    editionNumber: number;
    walletAddress: string;
    tokenUri: string;
  };
};

/** An artist with a published song that campaigns already knows (it learns songs from catalog events). */
export async function artistWithSong(stack: TestStack, db: pg.Client, title: string) {
  const artist = await newArtist(stack, `${title} Artist`);
  const songId = await publishedSong(stack, artist.token, { title, genre: 'Pop' }, makeWav(1, 4000));
  await eventually(
    async () => (await db.query('select 1 from campaigns.songs where song_id = $1', [songId])).rowCount,
    (n) => n === 1,
    15_000,
  );
  return { artist, songId };
}

/** Delivers listen.completed.v1 events as rewards publishes them. */
export async function listen(stack: TestStack, userId: string, songId: string, times = 1, completedAt = new Date()) {
  for (let i = 0; i < times; i++) {
    const payload = { sessionId: randomUUID(), userId, songId, listenedSeconds: 30, completedAt: completedAt.toISOString() };
    await publishEvent(stack, ListenCompleted, payload);
  }
}

/** Waits until campaigns counts `n` listens for the participant behind `token`. */
export async function listensCounted(stack: TestStack, token: string, campaignId: string, n: number) {
  const seen = await eventually(
    async () =>
      (await stack.gql<{ campaign: { myParticipation: { listens: number } | null } }>(MY_LISTENS, { id: campaignId }, { token })).data?.campaign.myParticipation
        ?.listens,
    (listens) => listens === n,
    15_000,
  );
  if (seen !== n) throw new Error(`expected ${n} listens, campaigns counts ${String(seen)}`);
}

export const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
