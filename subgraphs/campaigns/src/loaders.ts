import DataLoader from 'dataloader';
import type { EntityManager, Principal } from '@vibestream/platform';
import type { CampaignRow, MintRow, ParticipantRow } from './service.ts';

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** Per-request loaders: lists of campaigns cost a constant number of statements, whatever their length. */
export function createLoaders(em: EntityManager, principal: Principal | null) {
  const admin = principal?.roles.includes('ADMIN') ?? false;
  return {
    /** A song's campaigns, newest first: drafts only for their artist (or an ADMIN). */
    campaignsBySong: new DataLoader<string, CampaignRow[]>(async (songIds) => {
      const rows = (await em.execute(
        `select * from campaigns where song_id in (${placeholders(songIds.length)}) and (status <> 'DRAFT' or artist_user_id = ? or ?)
         order by created_at desc, id`,
        [...songIds, principal?.userId ?? null, admin],
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
    mintByParticipant: new DataLoader<string, MintRow | null>(async (participantIds) => {
      const rows = (await em.execute(`select * from mints where participant_id in (${placeholders(participantIds.length)})`, [...participantIds])) as MintRow[];
      return participantIds.map((id) => rows.find((r) => r.participant_id === id) ?? null);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
