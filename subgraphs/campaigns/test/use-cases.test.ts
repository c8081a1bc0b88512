// campaigns' use cases on campaigns' own schema, with catalog's and rewards' events injected, and no
// chain: no gateway, no other context booted. Changes go through CampaignsService with a Principal,
// as the resolvers call it; reads run this subgraph's own GraphQL schema in process (its resolvers
// and loaders, no HTTP). What needs the stack or the chain (federation joins, tokenURIs served
// through the gateway, deployments, mints and their retries on chain) is campaigns.e2e.test.ts.
import { randomUUID } from 'node:crypto';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { Wallet } from 'ethers';
import { graphql, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardEntities, MemoryLiveEvents, openPersistence, parseId, ProjectionWaits, type Principal, type Role } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { SongPublished } from '@vibestream/contracts/catalog';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { campaignsSubgraph } from '../src/app.ts';
import { campaignsHandlers } from '../src/handlers.ts';
import { createLoaders } from '../src/loaders.ts';
import { migrations } from '../src/migrations.ts';
import { NftMetadata } from '../src/nft/metadata.ts';
import { resolvers, type CampaignsContext } from '../src/resolvers.ts';
import { CampaignsService } from '../src/service/campaigns.ts';
import { sweep } from '../src/sweep.ts';
import { CAMPAIGN, minutesFromNow } from './helpers.ts';

const PUBLIC_URL = 'http://gateway.test';
let h: ContextHarness;
let service: CampaignsService;
let metadata: NftMetadata;
const schema = guardEntities(buildSubgraphSchema([{ typeDefs: campaignsSubgraph.typeDefs, resolvers }]));
/** SQL sent through the Persistence of `query`'s request, when asked to count. */
const statements: string[] = [];

function campaignsService(db: ContextHarness['db']): CampaignsService {
  const projections = new ProjectionWaits({ group: 'campaigns', timeoutMs: 0, live: new MemoryLiveEvents(), log: h.log });
  return new CampaignsService({ db, log: h.log, projections, deployments: null, minting: null });
}

beforeAll(async () => {
  h = await openContext({ name: 'campaigns', migrations });
  service = campaignsService(h.db);
  metadata = new NftMetadata(h.db, PUBLIC_URL);
  h.consume(campaignsHandlers(h.db));
});

afterAll(async () => {
  await h?.close();
});

const user = (role: Role = 'FAN'): Principal => ({ userId: randomUUID(), roles: [role], sessionId: randomUUID(), expiresAt: Date.now() / 1000 + 3600 });

/** Runs a document against campaigns' own schema, as its server does for `principal` (on a Persistence whose SQL is counted). */
async function query<T>(principal: Principal | null, source: string, variables: Record<string, unknown> = {}): Promise<ExecutionResult<T>> {
  const db = openPersistence(h.orm, { source: 'campaigns', onQuery: (sql) => void statements.push(sql) });
  const contextValue: CampaignsContext = {
    requestId: randomUUID(),
    principal,
    clientAddress: '127.0.0.1',
    log: h.log,
    campaigns: campaignsService(db),
    metadata: new NftMetadata(db, PUBLIC_URL),
    loaders: createLoaders(db.reader(), principal),
  };
  return (await graphql({ schema, source, variableValues: variables, contextValue })) as ExecutionResult<T>;
}

/** The code (and field) of a refused use case, or of a GraphQL result's first error. */
async function refusal(call: Promise<unknown>): Promise<{ code?: unknown; field?: unknown; message?: string }> {
  const outcome = await call.then(
    (r) => r,
    (e: unknown) => ({ errors: [e as { message?: string; extensions?: Record<string, unknown> }] }),
  );
  const error = (outcome as { errors?: readonly { message?: string; extensions?: Record<string, unknown> }[] }).errors?.[0];
  if (!error) throw new Error(`expected a refusal, got ${JSON.stringify(outcome)}`);
  return { code: error.extensions?.code, field: error.extensions?.field, message: error.message };
}
const codeOf = async (call: Promise<unknown>) => (await refusal(call)).code;

/** An artist with a published song that campaigns knows (catalog's event, injected). */
async function artistWithSong(title: string) {
  const artist = user('ARTIST');
  const songId = randomUUID();
  await h.inject(SongPublished, {
    songId,
    artistId: randomUUID(),
    artistUserId: artist.userId,
    title,
    genre: 'Pop',
    durationSeconds: 4,
    publishedAt: new Date().toISOString(),
  });
  return { artist, songId };
}

type Input = Parameters<CampaignsService['createCampaign']>[1];
/** A createCampaign input as the resolver passes it (DateTime arguments parsed). */
function input(songId: string, overrides: Record<string, unknown> = {}): Input {
  const raw = {
    songId,
    name: 'Run',
    startsAt: minutesFromNow(-1),
    endsAt: minutesFromNow(60),
    budgetCents: 500,
    nftDrop: { name: 'Run Drop', symbol: 'RUN', editionSize: 2, minListens: 1 },
    ...overrides,
  } as Record<string, unknown>;
  return { ...raw, startsAt: new Date(raw.startsAt as string), endsAt: new Date(raw.endsAt as string) } as Input;
}

async function campaign(artist: Principal, songId: string, overrides: Record<string, unknown> = {}, activate = true): Promise<string> {
  const created = await service.createCampaign(artist, input(songId, overrides));
  if (activate) await service.activateCampaign(artist, created.id);
  return created.id;
}

/** Delivers listen.completed.v1 events as rewards publishes them. */
async function listen(userId: string, songId: string, times = 1, completedAt = new Date()) {
  for (let i = 0; i < times; i++) {
    await h.inject(ListenCompleted, { sessionId: randomUUID(), userId, songId, listenedSeconds: 30, completedAt: completedAt.toISOString() });
  }
}

type CampaignView = {
  campaign: {
    id: string;
    status: string;
    participantCount: number;
    nftDrop: { editionSize: number; minted: number; remaining: number; contractAddress: string | null } | null;
    myParticipation: { id: string; referralCode: string; referralCount: number; listens: number; nft: { tokenId: string; status: string } | null } | null;
    analytics: {
      participants: number;
      referrals: number;
      listens: number;
      nftsMinted: number;
      conversionRate: number;
      costPerListenCents: number | null;
    } | null;
  } | null;
};

async function view(p: Principal | null, id: string) {
  return query<CampaignView>(p, CAMPAIGN, { id });
}

/** The listens campaigns counts for the participant `p` (everything injected is handled by now). */
async function listensOf(p: Principal, id: string) {
  return (await view(p, id)).data?.campaign?.myParticipation?.listens;
}

const count = async (sql: string, params: unknown[]) => (await h.orm.em.fork().getConnection().execute<{ n: number }[]>(sql, params))[0]!.n;

describe("a campaign's rules, without a chain", () => {
  it('creates, activates, takes joins with referrals, counts listens, refuses what the rules refuse, and reports analytics', async () => {
    const { artist, songId } = await artistWithSong('Golden Hour');
    const golden = input(songId, {
      name: 'Golden Hour launch',
      description: 'Listen twice, claim a token',
      budgetCents: 9000,
      nftDrop: { name: 'Golden Hour Drop', symbol: 'GOLD', editionSize: 3, minListens: 2 },
    });

    // Only the song's artist creates; bad input names the field and writes nothing.
    const stranger = user('ARTIST');
    expect(await codeOf(service.createCampaign(stranger, golden))).toBe('FORBIDDEN');
    const backwards = await refusal(service.createCampaign(artist, { ...golden, endsAt: golden.startsAt }));
    expect(backwards.code).toBe('BAD_USER_INPUT');
    expect(backwards.field).toBe('input.endsAt');
    expect(await codeOf(service.createCampaign(artist, { ...golden, nftDrop: { ...golden.nftDrop!, editionSize: 0 } }))).toBe('BAD_USER_INPUT');
    expect(await count('select count(*)::int as n from campaigns where song_id = ?', [songId])).toBe(0);

    const created = await service.createCampaign(artist, golden);
    expect(created).toMatchObject({ status: 'DRAFT', budget_cents: '9000', song_id: songId, edition_size: 3, min_listens: 2, editions_claimed: 0 });
    const campaignId = created.id;

    // A draft is the artist's alone: invisible, unjoinable and not activatable by anyone else.
    const [ana, ben, cy, dee, eve] = [user(), user(), user(), user(), user()];
    expect((await view(ana, campaignId)).data?.campaign).toBeNull();
    expect(await codeOf(service.joinCampaign(ana, campaignId, null))).toBe('NOT_FOUND');
    expect(await codeOf(service.activateCampaign(ana, campaignId))).toBe('NOT_FOUND');

    expect((await service.activateCampaign(artist, campaignId)).status).toBe('ACTIVE');
    expect(await codeOf(service.activateCampaign(artist, campaignId))).toBe('CONFLICT');

    // Joins: Cy joins with Ana's code; codes that are unknown or one's own are refused.
    const join = (fan: Principal, referralCode?: string) => service.joinCampaign(fan, campaignId, referralCode);
    const anaJoin = await join(ana);
    expect(anaJoin.referral_code).toMatch(/^[2-9A-HJKMNP-Z]{8}$/);
    expect(await join(ana)).toEqual(anaJoin);
    expect(await codeOf(join(ana, anaJoin.referral_code))).toBe('BAD_USER_INPUT');
    expect(await codeOf(join(ben, 'NOSUCHCD'))).toBe('BAD_USER_INPUT');
    await join(ben);
    expect((await join(cy, anaJoin.referral_code.toLowerCase())).referred_by).toBe(anaJoin.id);
    await join(dee);
    await join(eve);
    expect(await codeOf(join(artist))).toBe('FORBIDDEN');

    // Listens: two each since joining; Eve only one. Listens from before joining or of another song do not count.
    await listen(ana.userId, songId, 1, new Date(Date.now() - 10 * 60_000));
    const other = await artistWithSong('Other Song');
    await campaign(other.artist, other.songId);
    await listen(ana.userId, other.songId, 3);
    for (const fan of [ana, ben, cy, dee]) await listen(fan.userId, songId, 2);
    await listen(eve.userId, songId, 1);
    for (const fan of [ana, ben, cy, dee]) expect(await listensOf(fan, campaignId)).toBe(2);
    expect(await listensOf(eve, campaignId)).toBe(1);

    expect(await codeOf(service.claimNft(eve, campaignId, Wallet.createRandom().address))).toBe('FORBIDDEN');
    expect(await codeOf(service.claimNft(ana, campaignId, '0x1234'))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.claimNft(stranger, campaignId, Wallet.createRandom().address))).toBe('FORBIDDEN');

    // Four eligible fans claim at once: the database hands out editions 1..3, the fourth is sold out.
    const wallets = new Map([ana, ben, cy, dee].map((fan) => [fan.userId, Wallet.createRandom().address]));
    const results = await Promise.all(
      [ana, ben, cy, dee].map(async (fan) => ({ fan, result: await service.claimNft(fan, campaignId, wallets.get(fan.userId)!).catch((e: unknown) => e) })),
    );
    const winners = results.filter((r) => !(r.result instanceof Error)) as { fan: Principal; result: Awaited<ReturnType<CampaignsService['claimNft']>> }[];
    const losers = results.filter((r) => r.result instanceof Error);
    expect(winners).toHaveLength(3);
    expect(await Promise.all(losers.map((l) => codeOf(Promise.reject(l.result))))).toEqual(['CONFLICT']);
    expect((losers[0]!.result as Error).message).toMatch(/sold out/);
    expect(winners.map((w) => String(w.result.edition_number)).sort()).toEqual(['1', '2', '3']);
    for (const { fan, result } of winners) expect(result).toMatchObject({ status: 'MINTED', wallet_address: wallets.get(fan.userId) });
    // A second claim by a winner is CONFLICT, and nothing more is minted.
    expect(await codeOf(service.claimNft(winners[0]!.fan, campaignId, Wallet.createRandom().address))).toBe('CONFLICT');
    expect(await count(`select count(*)::int as n from mints where campaign_id = ?`, [campaignId])).toBe(3);

    // Analytics, for the artist: 5 participants, 1 referral, 9 listens, 3 minted of 5 participants, 9000 cents / 9 listens.
    const artistView = await view(artist, campaignId);
    expect(artistView.errors).toBeUndefined();
    expect(artistView.data!.campaign).toMatchObject({
      status: 'ACTIVE',
      participantCount: 5,
      nftDrop: { editionSize: 3, minted: 3, remaining: 0, contractAddress: null },
      analytics: { participants: 5, referrals: 1, listens: 9, nftsMinted: 3, conversionRate: 0.6, costPerListenCents: 1000 },
    });
    const anaView = await view(ana, campaignId);
    expect(anaView.data!.campaign!.myParticipation).toMatchObject({ referralCode: anaJoin.referral_code, referralCount: 1, listens: 2 });
    expect(anaView.data!.campaign!.analytics).toBeNull();
    expect(anaView.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('records an edition with no contract or transaction, publishes it, and serves its metadata', async () => {
    const { artist, songId } = await artistWithSong('Paper Moon');
    const id = await campaign(artist, songId);
    const seen = await view(artist, id);
    expect(seen.data!.campaign).toMatchObject({ status: 'ACTIVE', nftDrop: { contractAddress: null } });

    const fan = user();
    await service.joinCampaign(fan, id, null);
    await listen(fan.userId, songId, 1);
    expect(await listensOf(fan, id)).toBe(1);
    const wallet = Wallet.createRandom().address;
    const claimed = await service.claimNft(fan, id, wallet.toLowerCase());
    expect(claimed).toMatchObject({ edition_number: 1, contract_address: null, tx_hash: null, status: 'MINTED', wallet_address: wallet });
    const tokenUri = metadata.tokenUri(id, String(claimed.edition_number));
    expect(tokenUri).toBe(`${PUBLIC_URL}/nft/${id}/1`);
    expect(await metadata.tokenMetadata(id, '1')).toMatchObject({ name: 'Run Drop #1', song: 'Paper Moon', editionNumber: 1, editionSize: 2 });
    const events = (await h.recorded('campaigns.nft.minted.v1')).filter((e) => e.payload.campaignId === id);
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ editionNumber: 1, tokenId: '1', contractAddress: null, txHash: null, walletAddress: wallet }),
    ]);
  });

  it('refuses claims of a campaign without a drop, referral codes of another campaign, and joins before startsAt', async () => {
    const { artist, songId } = await artistWithSong('No Drop');
    const plain = await campaign(artist, songId, { nftDrop: null });
    const other = await campaign(artist, songId);
    const later = await campaign(artist, songId, { startsAt: minutesFromNow(30) });
    const fan = user();
    const friend = user();
    const joined = await service.joinCampaign(fan, other, null);
    expect(await codeOf(service.claimNft(fan, plain, Wallet.createRandom().address))).toBe('CONFLICT');
    expect(await codeOf(service.joinCampaign(friend, plain, joined.referral_code))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.joinCampaign(fan, later, null))).toBe('CONFLICT');
    // An id that is not one is refused before any lookup (issue 13); an unknown one is NOT_FOUND.
    expect(await refusal(Promise.resolve().then(() => service.joinCampaign(fan, parseId('not-an-id', 'id'), null)))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'id',
    });
    expect(await codeOf(service.joinCampaign(fan, randomUUID(), null))).toBe('NOT_FOUND');
    expect((await view(null, randomUUID())).data!.campaign).toBeNull();
    // Nothing was written by the refused joins.
    expect(await count('select count(*)::int as n from participants where user_id = ?', [friend.userId])).toBe(0);
  });

  it('joining concurrently yields one participation and one joined event; a redelivered listen counts once', async () => {
    const { artist, songId } = await artistWithSong('Twice');
    const id = await campaign(artist, songId);
    const fan = user();
    const joins = await Promise.all(Array.from({ length: 5 }, () => service.joinCampaign(fan, id, null)));
    expect(new Set(joins.map((j) => j.id)).size).toBe(1);
    await service.joinCampaign(fan, id, null);
    // campaigns.participant.joined.v1: once per participant, only by the join that created it.
    const joined = (await h.recorded('campaigns.participant.joined.v1')).filter((e) => (e.payload as { campaignId: string }).campaignId === id);
    expect(joined.map((e) => e.payload)).toEqual([{ campaignId: id, songId, userId: fan.userId, joinedAt: new Date(joins[0]!.joined_at).toISOString() }]);
    const payload = { sessionId: randomUUID(), userId: fan.userId, songId, listenedSeconds: 40, completedAt: new Date().toISOString() };
    // Each delivery is handled (or dead-lettered) before inject answers: no duplicate can come later.
    await h.inject(ListenCompleted, payload, { times: 3 });
    await listen(fan.userId, songId, 1);
    expect(await listensOf(fan, id)).toBe(2);
  });

  it('is ENDED once endsAt passes: joins and claims are CONFLICT, and the sweep persists ENDED', async () => {
    const { artist, songId } = await artistWithSong('Short Run');
    const id = await campaign(artist, songId, { nftDrop: { name: 'Short Run Drop', symbol: 'VIBE', editionSize: 5, minListens: 1 } });
    const fan = user();
    const latecomer = user();
    await service.joinCampaign(fan, id, null);
    await listen(fan.userId, songId, 1);
    expect(await listensOf(fan, id)).toBe(1);
    // endsAt passes (the campaign's clock moved on rather than the test waiting for it).
    await h.orm.em.fork().getConnection().execute(`update campaigns set ends_at = now() where id = ?`, [id]);
    expect((await view(fan, id)).data?.campaign?.status).toBe('ENDED');
    expect(await codeOf(service.claimNft(fan, id, Wallet.createRandom().address))).toBe('CONFLICT');
    expect(await codeOf(service.joinCampaign(latecomer, id, null))).toBe('CONFLICT');
    expect(await sweep({ campaigns: service, deployments: null, minting: null })).toMatchObject({ ended: 1 });
    expect(await count(`select count(*)::int as n from campaigns where id = ? and status = 'ENDED'`, [id])).toBe(1);
    const active = await query<{ activeCampaigns: { edges: { node: { id: string } }[] } }>(null, `{ activeCampaigns(first: 20) { edges { node { id } } } }`);
    expect(active.data!.activeCampaigns.edges.map((e) => e.node.id)).not.toContain(id);
  });
});

describe('reading campaigns', () => {
  it('Song.campaigns shows drafts to their artist only', async () => {
    const { artist, songId } = await artistWithSong('Drafty');
    const live = await campaign(artist, songId);
    const draft = await campaign(artist, songId, { name: 'Draft' }, false);
    type SongView = { _entities: { campaigns: { id: string; status: string }[] }[] };
    const SONG = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Song { campaigns { id status } } } }`;
    const representations = [{ __typename: 'Song', id: songId }];
    const asArtist = await query<SongView>(artist, SONG, { representations });
    expect(asArtist.data!._entities[0]!.campaigns.map((c) => [c.id, c.status])).toEqual([
      [draft, 'DRAFT'],
      [live, 'ACTIVE'],
    ]);
    const anonymous = await query<SongView>(null, SONG, { representations });
    expect(anonymous.data!._entities[0]!.campaigns.map((c) => c.id)).toEqual([live]);
  });

  it('activeCampaigns pages by endsAt with Relay cursors', async () => {
    const { artist, songId } = await artistWithSong('Pages');
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
      const page: ExecutionResult<Page> = await query<Page>(null, PAGE, { first: 2, after });
      expect(page.errors).toBeUndefined();
      seen.push(...page.data!.activeCampaigns.edges.map((e) => e.node.id));
      if (!page.data!.activeCampaigns.pageInfo.hasNextPage) break;
      after = page.data!.activeCampaigns.pageInfo.endCursor;
    }
    // Ending soonest first; every active campaign of this suite once; drafts never.
    const mine = seen.filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    const total = (await query<Page>(null, PAGE, { first: 1 })).data!.activeCampaigns.totalCount;
    expect(total).toBe(seen.length);
    expect(await codeOf(query(null, PAGE, { first: 101 }))).toBe('BAD_USER_INPUT');
    expect(await codeOf(query(null, PAGE, { first: 1, after: 'garbage' }))).toBe('BAD_USER_INPUT');
  });

  it('lists of campaigns cost a constant number of SQL statements in campaigns, however many campaigns a song has', async () => {
    const { artist, songId } = await artistWithSong('Many Runs');
    const admin = user('ADMIN');
    const QUERY = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on Song { campaigns { id status participantCount nftDrop { minted remaining }
      myParticipation { referralCode listens referralCount nft { tokenId } campaign { id } }
      analytics { participants referrals listens nftsMinted conversionRate costPerListenCents } } } } }`;
    // Reads only: background work (outbox relay, event consumer, sweep) writes, or reads only its own tables.
    const requestStatements = async () => {
      statements.length = 0;
      const res = await query<{ _entities: { campaigns: { myParticipation: { listens: number } | null; analytics: { participants: number } }[] }[] }>(
        admin,
        QUERY,
        {
          representations: [{ __typename: 'Song', id: songId }],
        },
      );
      expect(res.errors).toBeUndefined();
      const counted = statements.filter((sql) => /\bselect\b/i.test(sql) && !/outbox_events|handled_events|'ENDED'|insert into listens/.test(sql)).length;
      return { counted, campaigns: res.data!._entities[0]!.campaigns };
    };
    const addCampaigns = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = await campaign(artist, songId, { name: `Run ${i}` });
        await service.joinCampaign(admin, id, null);
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
