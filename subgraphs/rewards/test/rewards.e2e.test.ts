import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, graphqlClient, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '../src/index.ts';
import {
  CLAIM,
  COMPLETE,
  HEARTBEAT,
  POOL,
  listenAndComplete,
  newArtist,
  newVoucherSecrets,
  prove,
  publishSong,
  signUp,
  songKnownToRewards,
  terminateSnarkjs,
  type Complete,
} from './helpers.ts';

let stack: TestStack;
let mediaDir: string;
let songA: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-rewards-'));
  stack = await startTestStack('rewards', [identitySubgraph, catalogSubgraph, rewardsSubgraph], {
    MEDIA_DIR: mediaDir,
    MIN_LISTEN_SECONDS: '1',
    HEARTBEAT_INTERVAL_SECONDS: '1',
    HEARTBEAT_TOLERANCE_SECONDS: '0',
    DAILY_VOUCHER_CAP: '3',
    SONG_DAILY_VOUCHER_CAP: '2',
    REWARD_PER_LISTEN: '5000',
  });
  const artist = await newArtist(stack, 'Rewarded Artist');
  songA = await publishSong(stack, artist.token, 1, 'Song A');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

type Claim = { claimListenReward: { id: string; status: string; amount: string; recipient: string; txHash: string | null } };

// The listening rules, the pool, claims' refusals, payouts on chain and a restart are use-cases.test.ts's
// and claims.test.ts's, on rewards' own schema; here the path across contexts: a song uploaded to
// catalog, identity's tokens, an anonymous claim through the gateway, listenStats on identity's User
// and rewardedListens on catalog's Song.
describe('a fan listens, gets a voucher and claims it anonymously', () => {
  it('works end to end through the gateway, the claim sent with no token', async () => {
    const pool = await stack.gql<{ rewardPool: { rewardPerListen: string; treeDepth: number; minListenSeconds: number } }>(POOL);
    expect(pool.data!.rewardPool).toMatchObject({ rewardPerListen: '5000', treeDepth: 20, minListenSeconds: 1 });

    const fan = await signUp(stack, 'FAN', 'Listener');
    const { secrets, result } = await listenAndComplete(stack, fan.token, songA, 1);
    expect(result.rejectionReason).toBeNull();
    expect(result.session.status).toBe('COMPLETED');
    expect(result.voucher).toMatchObject({ amount: '5000', leafIndex: expect.any(Number) });

    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await prove(stack, secrets, result.voucher!, wallet);
    expect(publicSignals).toEqual([secrets.nullifierHash.toString(), expect.any(String), BigInt(wallet).toString()]);
    const anonymous = graphqlClient(stack.gatewayUrl);
    const claim = await anonymous<Claim>(CLAIM, { proof, publicSignals });
    expect(claim.errors).toBeUndefined();
    expect(claim.data!.claimListenReward).toMatchObject({ status: 'CREDITED', amount: '5000', recipient: wallet, txHash: null });

    // Replaying the nullifier is CONFLICT.
    expect(errorCode(await anonymous(CLAIM, { proof, publicSignals }))).toBe('CONFLICT');

    const stats = await stack.gql<{ me: { listenStats: { sessions: number; completedListens: number; vouchersIssued: number } } }>(
      `{ me { listenStats { sessions completedListens vouchersIssued } } }`,
      {},
      { token: fan.token },
    );
    expect(stats.data!.me.listenStats).toEqual({ sessions: 1, completedListens: 1, vouchersIssued: 1 });
    const song = await stack.gql<{ song: { rewardedListens: number; playCount: number } }>(`query($id: ID!) { song(id: $id) { rewardedListens playCount } }`, {
      id: songA,
    });
    expect(song.data!.song.rewardedListens).toBeGreaterThanOrEqual(1);
  });
});

// Issue 13, finding 3, through the gateway: each heartbeat alone looks plausible (2 s of playback,
// within the 2 s tolerance), but sent back to back they would claim 32 s in no time. The credit is
// bounded by the server's wall-clock time since the session started plus one tolerance, so the
// listen is TOO_SHORT and earns no voucher. The default listen rules (15 s heartbeats, 2 s
// tolerance, 30 s minimum), so this stack is its own.
describe('heartbeats sent back to back', () => {
  let rules: TestStack;

  beforeAll(async () => {
    rules = await startTestStack('rewardsclock', [identitySubgraph, catalogSubgraph, rewardsSubgraph], { MEDIA_DIR: mediaDir });
  }, 120_000);

  afterAll(async () => {
    await rules?.stop();
  });

  it('credit no more than the time since the session started plus one tolerance, and earn no voucher', async () => {
    const tolerance = 2;
    const artist = await newArtist(rules, 'Fast Forward');
    const songId = await publishSong(rules, artist.token, 40, 'Forty Seconds');
    const fan = await signUp(rules, 'FAN', 'Skipper');
    // Taken before the session starts, so the time measured here is never less than the server's.
    const started = Date.now();
    const sessionId = await songKnownToRewards(rules, fan.token, songId);
    const credited: number[] = [];
    for (let position = 2; position <= 32; position += 2) {
      const beat = await rules.gql<{ listenHeartbeat: { listenedSeconds: number } }>(HEARTBEAT, { sessionId, positionSeconds: position }, { token: fan.token });
      expect(beat.errors).toBeUndefined();
      credited.push(beat.data!.listenHeartbeat.listenedSeconds);
      expect(credited.at(-1)).toBeLessThanOrEqual((Date.now() - started) / 1000 + tolerance);
    }
    const done = await rules.gql<Complete>(COMPLETE, { sessionId, commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token });
    const elapsed = (Date.now() - started) / 1000;
    expect(done.errors).toBeUndefined();
    expect(done.data!.completeListenSession).toMatchObject({ voucher: null, rejectionReason: 'TOO_SHORT', session: { status: 'REJECTED' } });
    expect(done.data!.completeListenSession.session.listenedSeconds).toBeLessThanOrEqual(elapsed + tolerance);
    expect(Math.max(...credited)).toBeLessThan(32);
    const vouchers = await rules.db.query('select count(*)::int as n from rewards.vouchers');
    expect(vouchers.rows[0].n).toBe(0);
  });
});
