import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '../src/index.ts';
import { COMPLETE, HEARTBEAT, POOL, newArtist, newVoucherSecrets, publishSong, signUp, sleep, songKnownToRewards, type Complete } from './helpers.ts';

const REWARD = 1000n;
let stack: TestStack;
let mediaDir: string;
let db: pg.Client;

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-pool-'));
  // Default listen rules (15 s heartbeats, 30 s minimum); a budget for exactly three vouchers.
  stack = await startTestStack('rewardspool', [identitySubgraph, catalogSubgraph, rewardsSubgraph], {
    MEDIA_DIR: mediaDir,
    REWARD_PER_LISTEN: String(REWARD),
    EPOCH_BUDGET: String(3n * REWARD),
  });
  db = stack.db;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
});

type Pool = { rewardPool: { epoch: number; totalBudget: string; remaining: string } };

describe('reward pool', () => {
  it('never goes below zero under 50 concurrent completions', async () => {
    const artist = await newArtist(stack, 'Pool Artist');
    const songId = await publishSong(stack, artist.token, 1, 'Short One');
    const fans = await Promise.all(Array.from({ length: 50 }, () => signUp(stack, 'FAN')));
    const sessions = await Promise.all(fans.map((fan) => songKnownToRewards(stack, fan.token, songId)));
    await sleep(1_200);
    await Promise.all(fans.map((fan, i) => stack.gql(HEARTBEAT, { sessionId: sessions[i], positionSeconds: 1 }, { token: fan.token })));
    const results = await Promise.all(
      fans.map((fan, i) =>
        stack.gql<Complete>(COMPLETE, { sessionId: sessions[i], commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token }),
      ),
    );
    const outcomes = results.map((r) => r.data!.completeListenSession);
    expect(outcomes.filter((o) => o.voucher).length).toBe(3);
    expect(outcomes.filter((o) => o.rejectionReason === 'POOL_EXHAUSTED').length).toBe(47);
    const pool = await stack.gql<Pool>(POOL);
    expect(pool.data!.rewardPool).toMatchObject({ totalBudget: String(3n * REWARD), remaining: '0' });
    const leaves = await db.query('select leaf_index from rewards.vouchers order by leaf_index');
    expect(leaves.rows.map((r) => r.leaf_index)).toEqual([0, 1, 2]);
  });

  it('an admin funds the pool; others may not', async () => {
    const epoch = (await stack.gql<Pool>(POOL)).data!.rewardPool.epoch;
    const FUND = `mutation($epoch: Int!, $amount: BigInt!) { fundRewardPool(epoch: $epoch, amount: $amount) { totalBudget remaining } }`;
    const fan = await signUp(stack, 'FAN');
    expect(errorCode(await stack.gql(FUND, { epoch, amount: '5000' }, { token: fan.token }))).toBe('FORBIDDEN');
    const admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
    expect(errorCode(await stack.gql(FUND, { epoch, amount: '-5' }, { token: admin }))).toBe('BAD_USER_INPUT');
    const funded = await stack.gql<{ fundRewardPool: { totalBudget: string; remaining: string } }>(FUND, { epoch, amount: '5000' }, { token: admin });
    expect(funded.data!.fundRewardPool).toEqual({ totalBudget: String(3n * REWARD + 5000n), remaining: '5000' });
  });
});

describe('wall-clock bound', () => {
  it('a 60-second listen claimed after 10 seconds of wall time earns no voucher', async () => {
    const artist = await newArtist(stack, 'Long Form');
    const songId = await publishSong(stack, artist.token, 60, 'Sixty Seconds');
    const fan = await signUp(stack, 'FAN');
    const sessionId = await songKnownToRewards(stack, fan.token, songId);
    await sleep(10_000);
    const beat = await stack.gql<{ listenHeartbeat: { listenedSeconds: number } }>(HEARTBEAT, { sessionId, positionSeconds: 60 }, { token: fan.token });
    expect(beat.data!.listenHeartbeat.listenedSeconds).toBeLessThanOrEqual(12);
    const done = await stack.gql<Complete>(COMPLETE, { sessionId, commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token });
    expect(done.data!.completeListenSession).toMatchObject({ voucher: null, rejectionReason: 'TOO_SHORT' });
  }, 30_000);

  it('heartbeats sent back to back credit no more than the time since the session started plus one tolerance', async () => {
    const artist = await newArtist(stack, 'Fast Forward');
    const songId = await publishSong(stack, artist.token, 40, 'Forty Seconds');
    const fan = await signUp(stack, 'FAN');
    // Taken before the session starts, so the time measured here is never less than the server's.
    const started = Date.now();
    const sessionId = await songKnownToRewards(stack, fan.token, songId);
    let credited = 0;
    // Each heartbeat alone looks plausible (2 s of playback, within the 2 s tolerance); together they claim 32 s.
    for (let position = 2; position <= 32; position += 2) {
      const beat = await stack.gql<{ listenHeartbeat: { listenedSeconds: number } }>(HEARTBEAT, { sessionId, positionSeconds: position }, { token: fan.token });
      credited = beat.data!.listenHeartbeat.listenedSeconds;
    }
    const elapsed = (Date.now() - started) / 1000;
    expect(credited).toBeLessThanOrEqual(elapsed + 2);
    const done = await stack.gql<Complete>(COMPLETE, { sessionId, commitment: newVoucherSecrets().commitment.toString() }, { token: fan.token });
    expect(done.data!.completeListenSession).toMatchObject({ voucher: null, rejectionReason: 'TOO_SHORT', session: { status: 'REJECTED' } });
    expect(done.data!.completeListenSession.session.listenedSeconds).toBeLessThanOrEqual(elapsed + 2);
  });
});
