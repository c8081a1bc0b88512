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
  sleep,
  songKnownToRewards,
  START,
  terminateSnarkjs,
  type Complete,
} from './helpers.ts';

let stack: TestStack;
let mediaDir: string;
let artist: Awaited<ReturnType<typeof newArtist>>;
let songA: string;
let songB: string;
let songC: string;

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
  artist = await newArtist(stack, 'Rewarded Artist');
  songA = await publishSong(stack, artist.token, 1, 'Song A');
  songB = await publishSong(stack, artist.token, 1, 'Song B');
  songC = await publishSong(stack, artist.token, 1, 'Song C');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

type Claim = { claimListenReward: { id: string; status: string; amount: string; recipient: string; txHash: string | null } };

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

  it('refuses proofs for another recipient, unknown roots and tampered proofs with BAD_USER_INPUT', async () => {
    const fan = await signUp(stack, 'FAN');
    const { secrets, result } = await listenAndComplete(stack, fan.token, songB, 1);
    const wallet = Wallet.createRandom().address;
    const { proof, publicSignals } = await prove(stack, secrets, result.voucher!, wallet);

    const otherRecipient = [publicSignals[0]!, publicSignals[1]!, BigInt(Wallet.createRandom().address).toString()];
    expect(errorCode(await stack.gql(CLAIM, { proof, publicSignals: otherRecipient }))).toBe('BAD_USER_INPUT');
    const unknownRoot = [publicSignals[0]!, '12345', publicSignals[2]!];
    expect(errorCode(await stack.gql(CLAIM, { proof, publicSignals: unknownRoot }))).toBe('BAD_USER_INPUT');
    const tampered = { ...proof, pi_a: [(proof.pi_a as string[])[1], (proof.pi_a as string[])[0], '1'] };
    expect(errorCode(await stack.gql(CLAIM, { proof: tampered, publicSignals }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(CLAIM, { proof: { nonsense: true }, publicSignals }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(CLAIM, { proof, publicSignals: publicSignals.slice(0, 2) }))).toBe('BAD_USER_INPUT');
    // None of those spent the voucher.
    const ok = await stack.gql<Claim>(CLAIM, { proof, publicSignals });
    expect(ok.data!.claimListenReward.status).toBe('CREDITED');
  });
});

describe('anti-gaming', () => {
  it('TOO_SHORT when completed before the minimum listen', async () => {
    const fan = await signUp(stack, 'FAN');
    const sessionId = await songKnownToRewards(stack, fan.token, songA);
    const done = await stack.gql<Complete>(COMPLETE, { sessionId, commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token });
    expect(done.data!.completeListenSession).toMatchObject({ rejectionReason: 'TOO_SHORT', voucher: null, session: { status: 'REJECTED' } });
    // Completing twice is CONFLICT.
    expect(errorCode(await stack.gql(COMPLETE, { sessionId, commitment: '7' }, { token: fan.token }))).toBe('CONFLICT');
  });

  it('HEARTBEAT_GAP when heartbeats stop for over two intervals', async () => {
    const fan = await signUp(stack, 'FAN');
    const sessionId = await songKnownToRewards(stack, fan.token, songA);
    await sleep(2_300);
    await stack.gql(HEARTBEAT, { sessionId, positionSeconds: 1 }, { token: fan.token });
    const done = await stack.gql<Complete>(COMPLETE, { sessionId, commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token });
    expect(done.data!.completeListenSession.rejectionReason).toBe('HEARTBEAT_GAP');
  });

  it('SELF_LISTEN for the song artist', async () => {
    const { result } = await listenAndComplete(stack, artist.token, songA, 1);
    expect(result.rejectionReason).toBe('SELF_LISTEN');
  });

  it('SONG_DAILY_CAP, then DAILY_CAP', async () => {
    const fan = await signUp(stack, 'FAN');
    expect((await listenAndComplete(stack, fan.token, songC, 1)).result.rejectionReason).toBeNull();
    expect((await listenAndComplete(stack, fan.token, songC, 1)).result.rejectionReason).toBeNull();
    expect((await listenAndComplete(stack, fan.token, songC, 1)).result.rejectionReason).toBe('SONG_DAILY_CAP');
    expect((await listenAndComplete(stack, fan.token, songB, 1)).result.rejectionReason).toBeNull();
    expect((await listenAndComplete(stack, fan.token, songA, 1)).result.rejectionReason).toBe('DAILY_CAP');
  });

  it('DUPLICATE_COMMITMENT for a commitment already in a tree', async () => {
    const one = await signUp(stack, 'FAN');
    const two = await signUp(stack, 'FAN');
    const secrets = newVoucherSecrets();
    expect((await listenAndComplete(stack, one.token, songB, 1, secrets)).result.rejectionReason).toBeNull();
    expect((await listenAndComplete(stack, two.token, songB, 1, secrets)).result.rejectionReason).toBe('DUPLICATE_COMMITMENT');
  });

  it('sessions belong to their listener, a new one abandons the open one, and bad input is refused', async () => {
    const fan = await signUp(stack, 'FAN');
    const other = await signUp(stack, 'FAN');
    const first = await songKnownToRewards(stack, fan.token, songA);
    expect(errorCode(await stack.gql(HEARTBEAT, { sessionId: first, positionSeconds: 1 }, { token: other.token }))).toBe('FORBIDDEN');
    expect(errorCode(await stack.gql(HEARTBEAT, { sessionId: first, positionSeconds: -1 }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await stack.gql(COMPLETE, { sessionId: first, commitment: 'abc' }, { token: fan.token }))).toBe('BAD_USER_INPUT');
    await songKnownToRewards(stack, fan.token, songB);
    expect(errorCode(await stack.gql(HEARTBEAT, { sessionId: first, positionSeconds: 1 }, { token: fan.token }))).toBe('CONFLICT');
    expect(errorCode(await stack.gql(`mutation { startListenSession(songId: "00000000-0000-4000-8000-000000000000") { id } }`, {}, { token: fan.token }))).toBe(
      'NOT_FOUND',
    );
    expect(errorCode(await stack.gql(`mutation($s: ID!) { startListenSession(songId: $s) { id } }`, { s: songA }))).toBe('UNAUTHENTICATED');
  });

  it('concurrent starts by one listener each succeed, and only the last stays open (was INTERNAL_SERVER_ERROR: the one-open-session index)', async () => {
    const fan = await signUp(stack, 'FAN');
    const started = await Promise.all(
      Array.from({ length: 8 }, () => stack.gql<{ startListenSession: { id: string } }>(START, { songId: songA }, { token: fan.token })),
    );
    expect(started.map((res) => res.errors)).toEqual(Array(8).fill(undefined));
    const { rows } = await stack.db.query<{ open: number }>(`select count(*)::int as open from rewards.sessions where user_id = $1 and status = 'OPEN'`, [
      fan.userId,
    ]);
    expect(rows[0]!.open).toBe(1);
  });
});

describe('restart', () => {
  it('keeps trees and roots: an old voucher still claims from a restarted subgraph', async () => {
    const fan = await signUp(stack, 'FAN');
    const { secrets, result } = await listenAndComplete(stack, fan.token, songB, 1);
    const old = stack.subgraphs.get('rewards')!;
    const restarted = await rewardsSubgraph.start({ env: stack.env, port: 0, infra: stack.infra, log: stack.log });
    await old.stop();
    try {
      const direct = graphqlClient(restarted.url);
      const wallet = Wallet.createRandom().address;
      const { proof, publicSignals } = await prove(stack, secrets, result.voucher!, wallet, direct);
      const claim = await direct<Claim>(CLAIM, { proof, publicSignals });
      expect(claim.errors).toBeUndefined();
      expect(claim.data!.claimListenReward.status).toBe('CREDITED');
    } finally {
      stack.subgraphs.set('rewards', restarted);
    }
  });
});
