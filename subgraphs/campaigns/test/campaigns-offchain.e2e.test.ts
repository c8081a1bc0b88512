import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/rewards/events';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { campaignsSubgraph } from '../src/index.ts';
import {
  ACTIVATE,
  CAMPAIGN,
  CLAIM,
  CREATE,
  JOIN,
  SONG_CAMPAIGNS,
  artistWithSong,
  listen,
  listensCounted,
  minutesFromNow,
  signUp,
  type Claimed,
} from './helpers.ts';

// No ETH_RPC_URL: editions are recorded without a chain.
let stack: TestStack;
const statements: string[] = [];
let db: pg.Client;
let mediaDir: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-campaigns-off-'));
  stack = await startTestStack(
    'campaignsoff',
    [identitySubgraph, catalogSubgraph, campaignsSubgraph],
    { MEDIA_DIR: mediaDir },
    { onQuery: { campaigns: (sql) => statements.push(sql) } },
  );
  db = stack.db;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

type Artist = Awaited<ReturnType<typeof artistWithSong>>['artist'];

async function campaign(artist: Artist, songId: string, overrides: Record<string, unknown> = {}, activate = true): Promise<string> {
  const input = {
    songId,
    name: 'Run',
    startsAt: minutesFromNow(-1),
    endsAt: minutesFromNow(60),
    budgetCents: 500,
    nftDrop: { name: 'Run Drop', symbol: 'RUN', editionSize: 2, minListens: 1 },
    ...overrides,
  };
  const created = await stack.gql<{ createCampaign: { id: string } }>(CREATE, { input }, { token: artist.token });
  if (!created.data) throw new Error(JSON.stringify(created.errors));
  if (activate) {
    const activated = await stack.gql(ACTIVATE, { id: created.data.createCampaign.id }, { token: artist.token });
    if (activated.errors) throw new Error(JSON.stringify(activated.errors));
  }
  return created.data.createCampaign.id;
}

describe('campaigns without a chain', () => {
  it('records an edition with no contract or transaction, publishes it, and serves its metadata', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Paper Moon');
    const id = await campaign(artist, songId);
    const view = await stack.gql<{ campaign: { status: string; nftDrop: { contractAddress: string | null } } }>(CAMPAIGN, { id }, { token: artist.token });
    expect(view.data!.campaign).toMatchObject({ status: 'ACTIVE', nftDrop: { contractAddress: null } });

    const fan = await signUp(stack, 'FAN', 'Offline Fan');
    await stack.gql(JOIN, { id }, { token: fan.token });
    await listen(stack, fan.userId, songId, 1);
    await listensCounted(stack, fan.token, id, 1);
    const wallet = Wallet.createRandom().address;
    const claimed = await stack.gql<Claimed>(CLAIM, { campaignId: id, walletAddress: wallet.toLowerCase() }, { token: fan.token });
    expect(claimed.errors).toBeUndefined();
    expect(claimed.data!.claimCampaignNft).toEqual({
      tokenId: '1',
      contractAddress: null,
      txHash: null,
      status: 'MINTED',
      editionNumber: 1,
      walletAddress: wallet,
      tokenUri: `${stack.publicUrl}/nft/${id}/1`,
    });
    const metadata = await fetch(claimed.data!.claimCampaignNft.tokenUri);
    expect(await metadata.json()).toMatchObject({ name: 'Run Drop #1', song: 'Paper Moon', editionNumber: 1, editionSize: 2 });
    const events = await db.query(`select payload from campaigns.outbox_events where type = 'campaigns.nft.minted.v1' and payload->>'campaignId' = $1`, [id]);
    expect(events.rows.map((r) => r.payload)).toEqual([
      expect.objectContaining({ editionNumber: 1, tokenId: '1', contractAddress: null, txHash: null, walletAddress: wallet }),
    ]);
  });

  it('refuses claims of a campaign without a drop, referral codes of another campaign, and joins before startsAt', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'No Drop');
    const plain = await campaign(artist, songId, { nftDrop: null });
    const other = await campaign(artist, songId);
    const later = await campaign(artist, songId, { startsAt: minutesFromNow(30) });
    const fan = await signUp(stack, 'FAN', 'Fan');
    const friend = await signUp(stack, 'FAN', 'Friend');
    const joined = await stack.gql<{ joinCampaign: { referralCode: string } }>(JOIN, { id: other }, { token: fan.token });
    expect(errorCode(await stack.gql(CLAIM, { campaignId: plain, walletAddress: Wallet.createRandom().address }, { token: fan.token }))).toBe('CONFLICT');
    expect(errorCode(await stack.gql(JOIN, { id: plain, referralCode: joined.data!.joinCampaign.referralCode }, { token: friend.token }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await stack.gql(JOIN, { id: later }, { token: fan.token }))).toBe('CONFLICT');
    // An id that is not one is refused before any lookup (issue 13); an unknown one is NOT_FOUND.
    expect((await stack.gql(JOIN, { id: 'not-an-id' }, { token: fan.token })).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(errorCode(await stack.gql(JOIN, { id: randomUUID() }, { token: fan.token }))).toBe('NOT_FOUND');
    expect((await stack.gql<{ campaign: null }>(CAMPAIGN, { id: randomUUID() })).data!.campaign).toBeNull();
    // Nothing was written by the refused joins.
    expect((await db.query('select count(*)::int as n from campaigns.participants where user_id = $1', [friend.userId])).rows[0].n).toBe(0);
  });

  it('joining concurrently yields one participation; a redelivered listen counts once', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Twice');
    const id = await campaign(artist, songId);
    const fan = await signUp(stack, 'FAN', 'Eager');
    const joins = await Promise.all(
      Array.from({ length: 5 }, () => stack.gql<{ joinCampaign: { id: string; referralCode: string } }>(JOIN, { id }, { token: fan.token })),
    );
    expect(new Set(joins.map((j) => j.data!.joinCampaign.id)).size).toBe(1);
    const sessionId = randomUUID();
    const payload = { sessionId, userId: fan.userId, songId, listenedSeconds: 40, completedAt: new Date().toISOString() };
    await publishEvent(stack, ListenCompleted, payload, { times: 3 });
    await listen(stack, fan.userId, songId, 1);
    await listensCounted(stack, fan.token, id, 2);
    await new Promise((r) => setTimeout(r, 300));
    await listensCounted(stack, fan.token, id, 2);
  });

  it('Song.campaigns shows drafts to their artist only', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Drafty');
    const live = await campaign(artist, songId);
    const draft = await campaign(artist, songId, { name: 'Draft' }, false);
    type SongView = { song: { campaigns: { id: string; status: string }[] } };
    const asArtist = await stack.gql<SongView>(SONG_CAMPAIGNS, { id: songId }, { token: artist.token });
    expect(asArtist.data!.song.campaigns.map((c) => [c.id, c.status])).toEqual([
      [draft, 'DRAFT'],
      [live, 'ACTIVE'],
    ]);
    const anonymous = await stack.gql<SongView>(SONG_CAMPAIGNS, { id: songId });
    expect(anonymous.data!.song.campaigns.map((c) => c.id)).toEqual([live]);
  });

  it('activeCampaigns pages by endsAt with Relay cursors', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Pages');
    const ids = [
      await campaign(artist, songId, { endsAt: minutesFromNow(3) }),
      await campaign(artist, songId, { endsAt: minutesFromNow(2) }),
      await campaign(artist, songId, { endsAt: minutesFromNow(1) }),
    ];
    await campaign(artist, songId, { endsAt: minutesFromNow(1) }, false);
    type Page = {
      activeCampaigns: { totalCount: number; edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    };
    const PAGE = `query($first: Int, $after: String) { activeCampaigns(first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Awaited<ReturnType<typeof stack.gql<Page>>> = await stack.gql<Page>(PAGE, { first: 2, after });
      expect(page.errors).toBeUndefined();
      seen.push(...page.data!.activeCampaigns.edges.map((e) => e.node.id));
      if (!page.data!.activeCampaigns.pageInfo.hasNextPage) break;
      after = page.data!.activeCampaigns.pageInfo.endCursor;
    }
    // Ending soonest first; every active campaign of this suite once; drafts never.
    const mine = seen.filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    const total = (await stack.gql<Page>(PAGE, { first: 1 })).data!.activeCampaigns.totalCount;
    expect(total).toBe(seen.length);
    expect(errorCode(await stack.gql(PAGE, { first: 101 }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(PAGE, { first: 1, after: 'garbage' }))).toBe('BAD_USER_INPUT');
  });
});

describe('lists of campaigns', () => {
  it('cost a constant number of SQL statements in campaigns, however many campaigns a song has', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Many Runs');
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    const QUERY = `query($id: ID!) { song(id: $id) { campaigns { id status participantCount nftDrop { minted remaining }
      myParticipation { referralCode listens referralCount nft { tokenId } campaign { id } }
      analytics { participants referrals listens nftsMinted conversionRate costPerListenCents } } } }`;
    // Reads only: background work (outbox relay, event consumer, sweep) writes, or reads only its own tables.
    const requestStatements = async () => {
      statements.length = 0;
      const res = await stack.gql<{ song: { campaigns: { myParticipation: { listens: number } | null; analytics: { participants: number } }[] } }>(
        QUERY,
        { id: songId },
        { token: admin },
      );
      expect(res.errors).toBeUndefined();
      const counted = statements.filter((sql) => /\bselect\b/i.test(sql) && !/outbox_events|handled_events|'ENDED'|insert into listens/.test(sql)).length;
      return { counted, campaigns: res.data!.song.campaigns };
    };
    const addCampaigns = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = await campaign(artist, songId, { name: `Run ${i}` });
        expect((await stack.gql(JOIN, { id }, { token: admin })).errors).toBeUndefined();
      }
    };
    await addCampaigns(2);
    const few = await requestStatements();
    await addCampaigns(6);
    const many = await requestStatements();
    expect(few.campaigns).toHaveLength(2);
    expect(many.campaigns).toHaveLength(8);
    expect(many.campaigns.every((c) => c.myParticipation !== null && c.analytics.participants === 1)).toBe(true);
    expect(few.counted).toBeGreaterThan(0);
    expect(many.counted).toBe(few.counted);
  });
});
