import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Contract, Wallet, getCreateAddress } from 'ethers';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfra } from '@vibestream/platform';
import { errorCode, eventually, graphqlClient, startTestChain, startTestStack, type TestChain, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { campaignsSubgraph } from '../src/index.ts';
import { loadCollectionArtifact } from '../src/chain/artifact.ts';
import {
  ACTIVATE,
  ACTIVE,
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

const { abi } = loadCollectionArtifact();
let chain: TestChain;
let stack: TestStack;
let db: pg.Client;
let mediaDir: string;
let deployer: string;

beforeAll(async () => {
  chain = await startTestChain();
  deployer = new Wallet(chain.accounts[0]!).address;
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-campaigns-'));
  stack = await startTestStack('campaigns', [identitySubgraph, catalogSubgraph, campaignsSubgraph], {
    MEDIA_DIR: mediaDir,
    ETH_RPC_URL: chain.url,
    NFT_DEPLOYER_PRIVATE_KEY: chain.accounts[0]!,
    NFT_RECEIPT_TIMEOUT_MS: '1500',
    CAMPAIGN_SWEEP_INTERVAL_MS: '300',
  });
  db = stack.db;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await chain?.close();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

type Created = {
  createCampaign: {
    id: string;
    status: string;
    budgetCents: number;
    song: { id: string; title: string };
    nftDrop: { editionSize: number; minListens: number; minted: number } | null;
  };
};
type Activated = { activateCampaign: { id: string; status: string; nftDrop: { contractAddress: string | null } | null } };
type Joined = { joinCampaign: { id: string; referralCode: string; joinedAt: string } };
type CampaignView = {
  campaign: {
    id: string;
    status: string;
    participantCount: number;
    nftDrop: { editionSize: number; minted: number; remaining: number; contractAddress: string | null };
    myParticipation: {
      id: string;
      referralCode: string;
      referralCount: number;
      listens: number;
      nft: { tokenId: string; status: string; txHash: string | null } | null;
    } | null;
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

const collection = (address: string) => new Contract(address, abi, chain.provider);

async function draftWithDrop(title: string, drop: { editionSize: number; minListens: number }) {
  const { artist, songId } = await artistWithSong(stack, db, title);
  const created = await stack.gql<Created>(
    CREATE,
    {
      input: {
        songId,
        name: `${title} launch`,
        startsAt: minutesFromNow(-1),
        endsAt: minutesFromNow(60),
        budgetCents: 100,
        nftDrop: { name: `${title} Drop`, symbol: 'DPLY', ...drop },
      },
    },
    { token: artist.token },
  );
  if (!created.data) throw new Error(JSON.stringify(created.errors));
  return { artist, songId, id: created.data.createCampaign.id };
}

async function activeCampaignWithDrop(title: string, drop: { editionSize: number; minListens: number }, endsAt = minutesFromNow(60)) {
  const { artist, songId } = await artistWithSong(stack, db, title);
  const created = await stack.gql<Created>(
    CREATE,
    {
      input: {
        songId,
        name: `${title} launch`,
        startsAt: minutesFromNow(-1),
        endsAt,
        budgetCents: 9000,
        nftDrop: { name: `${title} Drop`, symbol: 'VIBE', ...drop },
      },
    },
    { token: artist.token },
  );
  if (!created.data) throw new Error(JSON.stringify(created.errors));
  const id = created.data.createCampaign.id;
  const activated = await stack.gql<Activated>(ACTIVATE, { id }, { token: artist.token });
  if (!activated.data) throw new Error(JSON.stringify(activated.errors));
  return { artist, songId, id, contractAddress: activated.data.activateCampaign.nftDrop!.contractAddress! };
}

describe('a campaign with an NFT drop of 3, through the gateway, on the in-process chain', () => {
  it('creates, activates, takes joins with referrals, counts listens, mints exactly three tokens under concurrent claims, and reports analytics', async () => {
    const { artist, songId } = await artistWithSong(stack, db, 'Golden Hour');
    const input = {
      songId,
      name: 'Golden Hour launch',
      description: 'Listen twice, claim a token',
      startsAt: minutesFromNow(-1),
      endsAt: minutesFromNow(60),
      budgetCents: 9000,
      nftDrop: { name: 'Golden Hour Drop', symbol: 'GOLD', editionSize: 3, minListens: 2 },
    };

    // Who may create, join and claim, and what each refusal is, are use-cases.test.ts; here the gateway's answer to no token.
    expect(errorCode(await stack.gql(CREATE, { input }))).toBe('UNAUTHENTICATED');
    const created = await stack.gql<Created>(CREATE, { input }, { token: artist.token });
    expect(created.errors).toBeUndefined();
    expect(created.data!.createCampaign).toMatchObject({
      status: 'DRAFT',
      budgetCents: 9000,
      song: { id: songId, title: 'Golden Hour' },
      nftDrop: { editionSize: 3, minListens: 2, minted: 0 },
    });
    const campaignId = created.data!.createCampaign.id;

    const fans = await Promise.all(['Ana', 'Ben', 'Cy', 'Dee', 'Eve'].map((name) => signUp(stack, 'FAN', name)));
    const [ana, ben, cy, dee, eve] = fans as [(typeof fans)[0], (typeof fans)[0], (typeof fans)[0], (typeof fans)[0], (typeof fans)[0]];
    const activated = await stack.gql<Activated>(ACTIVATE, { id: campaignId }, { token: artist.token });
    expect(activated.errors).toBeUndefined();
    expect(activated.data!.activateCampaign.status).toBe('ACTIVE');

    // The collection exists on chain, owned by the deployer, with the drop's name, symbol and size.
    const contractAddress = activated.data!.activateCampaign.nftDrop!.contractAddress!;
    expect(contractAddress).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const nft = collection(contractAddress);
    expect(await nft.getFunction('name')()).toBe('Golden Hour Drop');
    expect(await nft.getFunction('symbol')()).toBe('GOLD');
    expect(await nft.getFunction('editionSize')()).toBe(3n);
    expect(await nft.getFunction('owner')()).toBe(deployer);

    // Joins: Cy joins with Ana's code.
    const join = async (fan: { token: string }, referralCode?: string) =>
      stack.gql<Joined>(JOIN, { id: campaignId, ...(referralCode ? { referralCode } : {}) }, { token: fan.token });
    const anaJoin = (await join(ana)).data!.joinCampaign;
    await join(ben);
    const cyJoin = await join(cy, anaJoin.referralCode.toLowerCase());
    expect(cyJoin.errors).toBeUndefined();
    await join(dee);
    await join(eve);
    expect(errorCode(await stack.gql(JOIN, { id: campaignId }))).toBe('UNAUTHENTICATED');

    // Listens, as rewards publishes them: two each since joining; Eve only one.
    for (const fan of [ana, ben, cy, dee]) await listen(stack, fan.userId, songId, 2);
    await listen(stack, eve.userId, songId, 1);
    for (const fan of [ana, ben, cy, dee]) await listensCounted(stack, fan.token, campaignId, 2);
    await listensCounted(stack, eve.token, campaignId, 1);

    // Four eligible fans claim at once: the database hands out editions 1..3, the fourth is sold out.
    const wallets = new Map([ana, ben, cy, dee].map((fan) => [fan.userId, Wallet.createRandom().address]));
    const results = await Promise.all(
      [ana, ben, cy, dee].map(async (fan) => ({
        fan,
        result: await stack.gql<Claimed>(CLAIM, { campaignId, walletAddress: wallets.get(fan.userId) }, { token: fan.token }),
      })),
    );
    const winners = results.filter((r) => r.result.data?.claimCampaignNft);
    const losers = results.filter((r) => !r.result.data?.claimCampaignNft);
    expect(winners).toHaveLength(3);
    expect(losers.map((l) => errorCode(l.result))).toEqual(['CONFLICT']);
    expect(losers[0]!.result.errors![0]!.message).toMatch(/sold out/);
    expect(winners.map((w) => w.result.data!.claimCampaignNft.tokenId).sort()).toEqual(['1', '2', '3']);
    for (const { fan, result } of winners) {
      const claimed = result.data!.claimCampaignNft;
      expect(claimed).toMatchObject({
        status: 'MINTED',
        contractAddress,
        walletAddress: wallets.get(fan.userId),
        txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/),
      });
      expect(await nft.getFunction('ownerOf')(BigInt(claimed.tokenId))).toBe(wallets.get(fan.userId));
      expect((await chain.provider.getTransactionReceipt(claimed.txHash!))?.status).toBe(1);
    }
    expect(await nft.getFunction('totalSupply')()).toBe(3n);
    expect(await nft.getFunction('balanceOf')(wallets.get(losers[0]!.fan.userId))).toBe(0n);
    // A second claim by a winner is CONFLICT, and nothing more is minted.
    expect(errorCode(await stack.gql(CLAIM, { campaignId, walletAddress: Wallet.createRandom().address }, { token: winners[0]!.fan.token }))).toBe('CONFLICT');
    expect(await nft.getFunction('totalSupply')()).toBe(3n);

    // tokenURI points at the gateway's public address, which serves the edition's metadata.
    const first = winners.find((w) => w.result.data!.claimCampaignNft.tokenId === '1')!.result.data!.claimCampaignNft;
    const tokenUri = (await nft.getFunction('tokenURI')(1n)) as string;
    expect(tokenUri).toBe(`${stack.publicUrl}/nft/${campaignId}/1`);
    expect(first.tokenUri).toBe(tokenUri);
    const metadata = await fetch(tokenUri);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({ name: 'Golden Hour Drop #1', song: 'Golden Hour', editionNumber: 1, editionSize: 3 });
    expect((await fetch(`${stack.publicUrl}/nft/${campaignId}/4`)).status).toBe(404);

    // Each mint published campaigns.nft.minted.v1 through the outbox.
    const events = await db.query(`select payload from campaigns.outbox_events where type = 'campaigns.nft.minted.v1' and payload->>'campaignId' = $1`, [
      campaignId,
    ]);
    expect(events.rows.map((r) => r.payload.editionNumber).sort()).toEqual([1, 2, 3]);
    for (const { payload } of events.rows) {
      expect(payload).toMatchObject({
        campaignName: 'Golden Hour launch',
        songId,
        editionSize: 3,
        contractAddress,
        walletAddress: wallets.get(payload.userId),
      });
    }

    // Analytics, for the artist: 5 participants, 1 referral, 9 listens, 3 minted of 5 participants, 9000 cents / 9 listens.
    const view = await stack.gql<CampaignView>(CAMPAIGN, { id: campaignId }, { token: artist.token });
    expect(view.errors).toBeUndefined();
    expect(view.data!.campaign).toMatchObject({
      status: 'ACTIVE',
      participantCount: 5,
      nftDrop: { editionSize: 3, minted: 3, remaining: 0, contractAddress },
      analytics: { participants: 5, referrals: 1, listens: 9, nftsMinted: 3, conversionRate: 0.6, costPerListenCents: 1000 },
    });

    // The song shows its campaign (Song.campaigns, resolved here), and activeCampaigns lists it with the song from catalog.
    const song = await stack.gql<{ song: { campaigns: { id: string; status: string }[] } }>(SONG_CAMPAIGNS, { id: songId });
    expect(song.data!.song.campaigns).toEqual([{ id: campaignId, name: 'Golden Hour launch', status: 'ACTIVE' }]);
    const active = await stack.gql<{
      activeCampaigns: { totalCount: number; edges: { node: { id: string; song: { title: string; artist: { name: string } } } }[] };
    }>(ACTIVE);
    expect(active.errors).toBeUndefined();
    expect(active.data!.activeCampaigns.edges.find((e) => e.node.id === campaignId)?.node.song).toEqual({
      id: songId,
      title: 'Golden Hour',
      artist: { name: 'Golden Hour Artist' },
    });
  });
});

describe('many concurrent claims', () => {
  it('ten fans racing for five editions: five tokens on chain, one per winner, nonces never collide', async () => {
    const { id, contractAddress } = await activeCampaignWithDrop('Rush Hour', { editionSize: 5, minListens: 0 });
    const fans = await Promise.all(Array.from({ length: 10 }, (_, i) => signUp(stack, 'FAN', `Racer ${i}`)));
    for (const fan of fans) expect((await stack.gql(JOIN, { id }, { token: fan.token })).errors).toBeUndefined();
    const results = await Promise.all(
      fans.map(async (fan) => {
        const wallet = Wallet.createRandom().address;
        return { wallet, result: await stack.gql<Claimed>(CLAIM, { campaignId: id, walletAddress: wallet }, { token: fan.token }) };
      }),
    );
    const winners = results.filter((r) => r.result.data?.claimCampaignNft.status === 'MINTED');
    expect(winners).toHaveLength(5);
    expect(results.filter((r) => errorCode(r.result) === 'CONFLICT')).toHaveLength(5);
    const nft = collection(contractAddress);
    for (const { wallet, result } of winners) expect(await nft.getFunction('ownerOf')(BigInt(result.data!.claimCampaignNft.tokenId))).toBe(wallet);
    expect(winners.map((w) => Number(w.result.data!.claimCampaignNft.tokenId)).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(await nft.getFunction('totalSupply')()).toBe(5n);
    const rows = await db.query(
      `select count(*)::int as n, count(*) filter (where status = 'MINTED')::int as minted from campaigns.mints where campaign_id = $1`,
      [id],
    );
    expect(rows.rows[0]).toEqual({ n: 5, minted: 5 });
  });
});

describe('a mint that is not confirmed in time', () => {
  it('keeps the edition reserved for its claimant (PENDING) and the sweep finishes the same mint, once', async () => {
    const { id, songId, contractAddress } = await activeCampaignWithDrop('Slow Chain', { editionSize: 2, minListens: 0 });
    const fan = await signUp(stack, 'FAN', 'Patient');
    await stack.gql(JOIN, { id }, { token: fan.token });
    void songId;
    const wallet = Wallet.createRandom().address;
    await chain.rpc('evm_setAutomine', [false]);
    let claimed: Claimed['claimCampaignNft'];
    try {
      const result = await stack.gql<Claimed>(CLAIM, { campaignId: id, walletAddress: wallet }, { token: fan.token });
      expect(result.errors).toBeUndefined();
      claimed = result.data!.claimCampaignNft;
      expect(claimed).toMatchObject({ status: 'PENDING', tokenId: '1', txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
      expect(errorCode(await stack.gql(CLAIM, { campaignId: id, walletAddress: wallet }, { token: fan.token }))).toBe('CONFLICT');
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
      await chain.rpc('evm_mine');
    }
    const view = await eventually(
      async () => (await stack.gql<CampaignView>(CAMPAIGN, { id }, { token: fan.token })).data?.campaign?.myParticipation?.nft,
      (nft) => nft?.status === 'MINTED',
      15_000,
    );
    expect(view).toEqual({ tokenId: '1', status: 'MINTED', txHash: claimed.txHash });
    const nft = collection(contractAddress);
    expect(await nft.getFunction('ownerOf')(1n)).toBe(wallet);
    expect(await nft.getFunction('totalSupply')()).toBe(1n);
  });
});

const ACTIVATE_DEPLOYING = `mutation ActivateCampaign($id: ID!) { activateCampaign(id: $id) { id status nftDrop { contractAddress deploying deployTxHash } } }`;
const DEPLOYMENT = `query($id: ID!) { campaign(id: $id) { id status nftDrop { contractAddress deploying deployTxHash } } }`;
type Deployment = { id: string; status: string; nftDrop: { contractAddress: string | null; deploying: boolean; deployTxHash: string | null } };

describe('activating a campaign with a drop', () => {
  it('three concurrent activations deploy exactly one collection, and all answer ACTIVE with it', async () => {
    const { artist, id } = await draftWithDrop('Crowded Launch', { editionSize: 4, minListens: 0 });
    const nonce = await chain.provider.getTransactionCount(deployer);
    const results = await Promise.all([1, 2, 3].map(() => stack.gql<{ activateCampaign: Deployment }>(ACTIVATE_DEPLOYING, { id }, { token: artist.token })));
    for (const result of results) expect(result.errors).toBeUndefined();
    const contractAddress = getCreateAddress({ from: deployer, nonce });
    for (const result of results) {
      expect(result.data!.activateCampaign).toMatchObject({
        status: 'ACTIVE',
        nftDrop: { contractAddress, deploying: false, deployTxHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) },
      });
    }
    expect(await chain.provider.getTransactionCount(deployer)).toBe(nonce + 1);
    const receipt = await chain.provider.getTransactionReceipt(results[0]!.data!.activateCampaign.nftDrop.deployTxHash!);
    expect(receipt?.contractAddress).toBe(contractAddress);
    expect(await collection(contractAddress).getFunction('name')()).toBe('Crowded Launch Drop');
    expect(errorCode(await stack.gql(ACTIVATE, { id }, { token: artist.token }))).toBe('CONFLICT');
  });

  it('two replicas (each with its own process state) activating at once sign two deployments but broadcast only the one recorded', async () => {
    const { artist, id } = await draftWithDrop('Replicated Launch', { editionSize: 2, minListens: 0 });
    const infra = createInfra({ redisUrl: stack.env.REDIS_URL, prefix: stack.env.REDIS_PREFIX!, log: stack.log });
    const replica = await campaignsSubgraph.start({ env: stack.env, port: 0, infra, log: stack.log });
    const nonce = await chain.provider.getTransactionCount(deployer);
    const sendLock = `campaigns:deployer:${deployer}`;
    // Unmined, the first deployment leaves the campaign DRAFT while the other replica signs its own.
    await chain.rpc('evm_setAutomine', [false]);
    try {
      const direct = [stack.subgraph('campaigns'), graphqlClient(replica.url)];
      // Holding the deployer's send lock makes both replicas sign a deployment before either is recorded.
      await db.query('select pg_advisory_lock(hashtext($1))', [sendLock]);
      const activations = Promise.all(
        [0, 1, 0, 1].map((i) => direct[i]!<{ activateCampaign: Deployment }>(ACTIVATE_DEPLOYING, { id }, { token: artist.token })),
      );
      const waiting = await eventually(
        async () =>
          (
            await db.query(
              `select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`,
            )
          ).rows[0].n as number,
        (n) => n === 2,
        10_000,
      );
      expect(waiting).toBe(2);
      await db.query('select pg_advisory_unlock(hashtext($1))', [sendLock]);
      const results = await activations;
      const [first] = results;
      for (const result of results) {
        expect(result.errors).toBeUndefined();
        expect(result.data!.activateCampaign).toEqual({
          id,
          status: 'DRAFT',
          nftDrop: { contractAddress: null, deploying: true, deployTxHash: first!.data!.activateCampaign.nftDrop.deployTxHash },
        });
      }
      expect(await chain.provider.getTransactionCount(deployer, 'pending')).toBe(nonce + 1);
    } finally {
      await db.query('select pg_advisory_unlock_all()');
      await chain.rpc('evm_setAutomine', [true]);
      await chain.rpc('evm_mine');
      await replica.stop();
      await infra.close();
    }
    const view = await eventually(
      async () => (await stack.gql<{ campaign: Deployment }>(DEPLOYMENT, { id }, { token: artist.token })).data?.campaign,
      (c) => c?.status === 'ACTIVE',
      15_000,
    );
    expect(view?.nftDrop.contractAddress).toBe(getCreateAddress({ from: deployer, nonce }));
    expect(await chain.provider.getTransactionCount(deployer)).toBe(nonce + 1);
  });

  it('holds no transaction while the deployment is unconfirmed: the campaign stays DRAFT (not joinable), a retry sends nothing more, and the sweep activates it with that same contract', async () => {
    const { artist, id } = await draftWithDrop('Slow Launch', { editionSize: 2, minListens: 0 });
    const fan = await signUp(stack, 'FAN', 'Eager');
    const nonce = await chain.provider.getTransactionCount(deployer);
    let deployTxHash: string;
    await chain.rpc('evm_setAutomine', [false]);
    try {
      const activation = stack.gql<{ activateCampaign: Deployment }>(ACTIVATE_DEPLOYING, { id }, { token: artist.token });
      // The deployment is recorded before it is broadcast, and the activation then waits for its receipt.
      const recorded = await eventually(
        async () => (await db.query('select deploy_tx_hash from campaigns.campaigns where id = $1', [id])).rows[0]?.deploy_tx_hash as string | null,
        (hash) => Boolean(hash),
        10_000,
      );
      expect(recorded).toMatch(/^0x[0-9a-f]{64}$/);
      // Broadcast right after it is recorded.
      expect(
        await eventually(
          () => chain.provider.getTransaction(recorded!),
          (tx) => tx !== null,
          10_000,
        ),
      ).not.toBeNull();
      // Meanwhile nothing holds the campaign's row: a locking read that refuses to wait gets it.
      await db.query('begin');
      try {
        const locked = await db.query('select status from campaigns.campaigns where id = $1 for update nowait', [id]);
        expect(locked.rows).toEqual([{ status: 'DRAFT' }]);
      } finally {
        await db.query('rollback');
      }
      expect(errorCode(await stack.gql(JOIN, { id }, { token: fan.token }))).toBe('NOT_FOUND');

      // The receipt does not come within NFT_RECEIPT_TIMEOUT_MS: the answer is the DRAFT, being deployed.
      const answered = await activation;
      expect(answered.errors).toBeUndefined();
      expect(answered.data!.activateCampaign).toEqual({ id, status: 'DRAFT', nftDrop: { contractAddress: null, deploying: true, deployTxHash: recorded } });
      deployTxHash = recorded!;

      // Activating again finishes the same deployment: nothing more is sent.
      const retried = await stack.gql<{ activateCampaign: Deployment }>(ACTIVATE_DEPLOYING, { id }, { token: artist.token });
      expect(retried.data!.activateCampaign).toMatchObject({ status: 'DRAFT', nftDrop: { deploying: true, deployTxHash } });
      expect(await chain.provider.getTransactionCount(deployer, 'pending')).toBe(nonce + 1);
      expect((await stack.gql<{ campaign: Deployment }>(DEPLOYMENT, { id }, { token: artist.token })).data!.campaign.status).toBe('DRAFT');
    } finally {
      await chain.rpc('evm_setAutomine', [true]);
      await chain.rpc('evm_mine');
    }

    // The sweep sees the receipt and activates the campaign with the contract that transaction created.
    const contractAddress = getCreateAddress({ from: deployer, nonce });
    const view = await eventually(
      async () => (await stack.gql<{ campaign: Deployment }>(DEPLOYMENT, { id }, { token: artist.token })).data?.campaign,
      (c) => c?.status === 'ACTIVE',
      15_000,
    );
    expect(view).toEqual({ id, status: 'ACTIVE', nftDrop: { contractAddress, deploying: false, deployTxHash } });
    expect((await chain.provider.getTransactionReceipt(deployTxHash))?.contractAddress).toBe(contractAddress);
    expect(await chain.provider.getTransactionCount(deployer)).toBe(nonce + 1);
    expect(await collection(contractAddress).getFunction('owner')()).toBe(deployer);
    expect((await stack.gql(JOIN, { id }, { token: fan.token })).errors).toBeUndefined();
  });
});
