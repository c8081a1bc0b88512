import DataLoader from 'dataloader';
import { MAX_PAGE_SIZE, type Principal, type Session } from '@vibestream/platform';
import { analytics } from './domain/campaign.ts';
import type { CampaignAnalytics, CampaignRow, MintRow, ParticipantRow } from './model.ts';
import * as store from './store.ts';

const countOf = (rows: readonly { id: string; n: number }[]) => {
  const counts = new Map(rows.map((r) => [r.id, r.n]));
  return (id: string) => counts.get(id) ?? 0;
};

/** Per-request loaders: lists of campaigns cost a constant number of statements, whatever their length. */
export function createLoaders(db: Session, principal: Principal | null) {
  const admin = principal?.roles.includes('ADMIN') ?? false;
  return {
    /** A song's newest campaigns, as many as `first` may ask for (Song.campaigns slices them): drafts only for their artist (or an ADMIN). */
    campaignsBySong: new DataLoader<string, CampaignRow[]>(async (songIds) => {
      const rows = await store.campaignsBySongs(db, songIds, { userId: principal?.userId ?? null, admin }, MAX_PAGE_SIZE);
      return songIds.map((id) => rows.filter((r) => r.song_id === id));
    }),
    participantCount: new DataLoader<string, number>(async (campaignIds) => campaignIds.map(countOf(await store.participantCounts(db, campaignIds)))),
    /** The caller's participation per campaign (null for anonymous callers). */
    myParticipation: new DataLoader<string, ParticipantRow | null>(async (campaignIds) => {
      if (!principal) return campaignIds.map(() => null);
      const rows = await store.participationsOf(db, principal.userId, campaignIds);
      return campaignIds.map((id) => rows.find((r) => r.campaign_id === id) ?? null);
    }),
    /** Participants who joined with each participant's code. */
    referralCount: new DataLoader<string, number>(async (participantIds) => participantIds.map(countOf(await store.referralCounts(db, participantIds)))),
    /** Each participant's completed listens of the campaign's song since joining, before endsAt. */
    listens: new DataLoader<string, number>(async (participantIds) => participantIds.map(countOf(await store.listenCounts(db, participantIds)))),
    /** Campaign analytics (whoever asks must be allowed to see them: the service checks). */
    analytics: new DataLoader<CampaignRow, CampaignAnalytics, string>(
      async (campaigns) => {
        const rows = await store.analyticsCounts(
          db,
          campaigns.map((c) => c.id),
        );
        return campaigns.map((c) => {
          const n = rows.find((r) => r.id === c.id) ?? { participants: 0, referrals: 0, listens: 0, minted: 0, claimants: 0 };
          return analytics(
            { participants: n.participants, referrals: n.referrals, listens: n.listens, nftsMinted: n.minted, claimants: n.claimants },
            Number(c.budget_cents),
          );
        });
      },
      { cacheKeyFn: (c) => c.id },
    ),
    campaignById: new DataLoader<string, CampaignRow | null>(async (ids) => {
      const rows = await store.campaignsByIds(db, ids);
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    }),
    mintByParticipant: new DataLoader<string, MintRow | null>(async (participantIds) => {
      const rows = await store.mintsByParticipants(db, participantIds);
      return participantIds.map((id) => rows.find((r) => r.participant_id === id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
