import DataLoader from 'dataloader';
import { MAX_PAGE_SIZE, type EntityManager, type Principal } from '@vibestream/platform';
import { analytics } from './domain/campaign.ts';
import type { CampaignAnalytics, CampaignRow, MintRow, ParticipantRow } from './model.ts';

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** Per-request loaders: lists of campaigns cost a constant number of statements, whatever their length. */
export function createLoaders(em: EntityManager, principal: Principal | null) {
  const admin = principal?.roles.includes('ADMIN') ?? false;
  return {
    /** A song's newest campaigns, as many as `first` may ask for (Song.campaigns slices them): drafts only for their artist (or an ADMIN). */
    campaignsBySong: new DataLoader<string, CampaignRow[]>(async (songIds) => {
      const rows = (await em.execute(
        `select * from (select c.*, row_number() over (partition by c.song_id order by c.created_at desc, c.id) as position from campaigns c
                        where c.song_id in (${placeholders(songIds.length)}) and (c.status <> 'DRAFT' or c.artist_user_id = ? or ?)) x
         where x.position <= ? order by x.created_at desc, x.id`,
        [...songIds, principal?.userId ?? null, admin, MAX_PAGE_SIZE],
      )) as CampaignRow[];
      return songIds.map((id) => rows.filter((r) => r.song_id === id));
    }),
    participantCount: new DataLoader<string, number>(async (campaignIds) => {
      const rows = (await em.execute(
        `select campaign_id, count(*)::int as n from participants where campaign_id in (${placeholders(campaignIds.length)}) group by campaign_id`,
        [...campaignIds],
      )) as { campaign_id: string; n: number }[];
      return campaignIds.map((id) => rows.find((r) => r.campaign_id === id)?.n ?? 0);
    }),
    /** The caller's participation per campaign (null for anonymous callers). */
    myParticipation: new DataLoader<string, ParticipantRow | null>(async (campaignIds) => {
      if (!principal) return campaignIds.map(() => null);
      const rows = (await em.execute(`select * from participants where user_id = ? and campaign_id in (${placeholders(campaignIds.length)})`, [
        principal.userId,
        ...campaignIds,
      ])) as ParticipantRow[];
      return campaignIds.map((id) => rows.find((r) => r.campaign_id === id) ?? null);
    }),
    /** Participants who joined with each participant's code. */
    referralCount: new DataLoader<string, number>(async (participantIds) => {
      const rows = (await em.execute(
        `select referred_by as id, count(*)::int as n from participants where referred_by in (${placeholders(participantIds.length)}) group by referred_by`,
        [...participantIds],
      )) as { id: string; n: number }[];
      return participantIds.map((id) => rows.find((r) => r.id === id)?.n ?? 0);
    }),
    /** Each participant's completed listens of the campaign's song since joining, before endsAt. */
    listens: new DataLoader<string, number>(async (participantIds) => {
      const rows = (await em.execute(
        `select p.id, count(l.session_id)::int as n
         from participants p join campaigns c on c.id = p.campaign_id
         left join listens l on l.user_id = p.user_id and l.song_id = c.song_id and l.completed_at >= p.joined_at and l.completed_at < c.ends_at
         where p.id in (${placeholders(participantIds.length)}) group by p.id`,
        [...participantIds],
      )) as { id: string; n: number }[];
      return participantIds.map((id) => rows.find((r) => r.id === id)?.n ?? 0);
    }),
    /** Campaign analytics (whoever asks must be allowed to see them: the service checks). */
    analytics: new DataLoader<CampaignRow, CampaignAnalytics, string>(
      async (campaigns) => {
        const rows = (await em.execute(
          `select c.id,
             (select count(*)::int from participants where campaign_id = c.id) as participants,
             (select count(*)::int from participants where campaign_id = c.id and referred_by is not null) as referrals,
             (select count(*)::int from participants p join listens l on l.user_id = p.user_id and l.song_id = c.song_id
                and l.completed_at >= p.joined_at and l.completed_at >= c.starts_at and l.completed_at < c.ends_at
              where p.campaign_id = c.id) as listens,
             (select count(*)::int from mints where campaign_id = c.id and status = 'MINTED') as minted,
             (select count(*)::int from mints where campaign_id = c.id) as claimants
           from campaigns c where c.id in (${placeholders(campaigns.length)})`,
          campaigns.map((c) => c.id),
        )) as { id: string; participants: number; referrals: number; listens: number; minted: number; claimants: number }[];
        return campaigns.map((c) => {
          const n = rows.find((r) => r.id === c.id) ?? { participants: 0, referrals: 0, listens: 0, minted: 0, claimants: 0 };
          return analytics({ participants: n.participants, referrals: n.referrals, listens: n.listens, nftsMinted: n.minted, claimants: n.claimants }, Number(c.budget_cents));
        });
      },
      { cacheKeyFn: (c) => c.id },
    ),
    campaignById: new DataLoader<string, CampaignRow | null>(async (ids) => {
      const rows = (await em.execute(`select * from campaigns where id in (${placeholders(ids.length)})`, [...ids])) as CampaignRow[];
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    }),
    mintByParticipant: new DataLoader<string, MintRow | null>(async (participantIds) => {
      const rows = (await em.execute(`select * from mints where participant_id in (${placeholders(participantIds.length)})`, [...participantIds])) as MintRow[];
      return participantIds.map((id) => rows.find((r) => r.participant_id === id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
