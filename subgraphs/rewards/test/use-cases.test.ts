// rewards' listening use cases on rewards' own schema, with catalog's songs injected
// (catalog.song.published.v1): sessions, heartbeats, the anti-gaming rules, vouchers and the
// epoch's pool, called as the resolvers call them, with a Principal. No gateway, no other context;
// the service's clock is moved instead of sleeping. Claims (proofs, payouts on chain, a restart)
// are claims.test.ts; the path through the gateway is rewards.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContextHarness } from '@vibestream/testkit';
import { ListenCompleted, PoolFunded, VoucherIssued } from '@vibestream/contracts/rewards';
import type { RewardsService } from '../src/service.ts';
import { newVoucherSecrets } from './proofs.ts';
import { TestClock, as, codeOf, fan, listenAndComplete, openRewards, pastEpoch, publishSong, rewardsService } from './service-harness.ts';

let h: ContextHarness;

beforeAll(async () => {
  h = await openRewards();
});

afterAll(async () => {
  await h?.close();
});

const listened = (session: { listened_seconds: number }) => Math.floor(session.listened_seconds);
const recordedFor = async (sessionId: string) => (await h.recorded()).filter((e) => e.payload.sessionId === sessionId).map((e) => e.type);

describe('anti-gaming', () => {
  const clock = new TestClock(pastEpoch(1));
  let service: RewardsService;
  const artist = as(['ARTIST']);
  let songA: string;
  let songB: string;
  let songC: string;

  beforeAll(async () => {
    service = rewardsService(h, {
      clock,
      env: {
        MIN_LISTEN_SECONDS: '1',
        HEARTBEAT_INTERVAL_SECONDS: '1',
        HEARTBEAT_TOLERANCE_SECONDS: '0',
        DAILY_VOUCHER_CAP: '3',
        SONG_DAILY_VOUCHER_CAP: '2',
        REWARD_PER_LISTEN: '5000',
      },
    });
    songA = await publishSong(h, artist, 1, 'Song A');
    songB = await publishSong(h, artist, 1, 'Song B');
    songC = await publishSong(h, artist, 1, 'Song C');
  });

  it('a listen earns a voucher and records its events once', async () => {
    const listener = fan();
    const { sessionId, result } = await listenAndComplete(service, clock, listener, songA, 1);
    expect(result.rejectionReason).toBeNull();
    expect(result.session.status).toBe('COMPLETED');
    expect(result.voucher).toMatchObject({ amount: '5000', leaf_index: expect.any(Number) });
    expect(await recordedFor(sessionId)).toEqual([VoucherIssued.type, ListenCompleted.type]);
  });

  it('TOO_SHORT when completed before the minimum listen', async () => {
    const listener = fan();
    const session = await service.startSession(listener, songA);
    const done = await service.complete(listener, session.id, newVoucherSecrets().commitment.toString());
    expect(done).toMatchObject({ rejectionReason: 'TOO_SHORT', voucher: null, session: { status: 'REJECTED' } });
    expect(await recordedFor(session.id)).toEqual([]);
    // Completing twice is CONFLICT.
    expect(await codeOf(service.complete(listener, session.id, '7'))).toBe('CONFLICT');
  });

  it('HEARTBEAT_GAP when heartbeats stop for over two intervals', async () => {
    const listener = fan();
    const session = await service.startSession(listener, songA);
    clock.skip(2_300);
    await service.heartbeat(listener, session.id, 1);
    const done = await service.complete(listener, session.id, newVoucherSecrets().commitment.toString());
    expect(done.rejectionReason).toBe('HEARTBEAT_GAP');
  });

  it('SELF_LISTEN for the song artist', async () => {
    const { result } = await listenAndComplete(service, clock, artist, songA, 1);
    expect(result.rejectionReason).toBe('SELF_LISTEN');
  });

  it('SONG_DAILY_CAP, then DAILY_CAP', async () => {
    const listener = fan();
    const listen = async (songId: string) => (await listenAndComplete(service, clock, listener, songId, 1)).result.rejectionReason;
    expect(await listen(songC)).toBeNull();
    expect(await listen(songC)).toBeNull();
    expect(await listen(songC)).toBe('SONG_DAILY_CAP');
    expect(await listen(songB)).toBeNull();
    expect(await listen(songA)).toBe('DAILY_CAP');
  });

  it('DUPLICATE_COMMITMENT for a commitment already in a tree', async () => {
    const secrets = newVoucherSecrets();
    expect((await listenAndComplete(service, clock, fan(), songB, 1, secrets)).result.rejectionReason).toBeNull();
    expect((await listenAndComplete(service, clock, fan(), songB, 1, secrets)).result.rejectionReason).toBe('DUPLICATE_COMMITMENT');
  });

  it('sessions belong to their listener, a new one abandons the open one, and bad input is refused', async () => {
    const listener = fan();
    const other = fan();
    const first = (await service.startSession(listener, songA)).id;
    expect(await codeOf(service.heartbeat(other, first, 1))).toBe('FORBIDDEN');
    expect(await codeOf(service.heartbeat(listener, first, -1))).toBe('BAD_USER_INPUT');
    expect(await codeOf(service.complete(listener, first, 'abc'))).toBe('BAD_USER_INPUT');
    await service.startSession(listener, songB);
    expect(await codeOf(service.heartbeat(listener, first, 1))).toBe('CONFLICT');
    expect(await codeOf(service.startSession(listener, '00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
    expect(await codeOf(service.startSession(null, songA))).toBe('UNAUTHENTICATED');
  });

  it('concurrent starts by one listener each succeed, and only the last stays open (was INTERNAL_SERVER_ERROR: the one-open-session index)', async () => {
    const listener = fan();
    const started = await Promise.all(Array.from({ length: 8 }, () => codeOf(service.startSession(listener, songA))));
    expect(started).toEqual(Array(8).fill('OK'));
    const rows = await h.orm.em
      .fork()
      .getConnection()
      .execute<{ open: number }[]>(`select count(*)::int as open from sessions where user_id = ? and status = 'OPEN'`, [listener.userId]);
    expect(rows[0]!.open).toBe(1);
  });
});

describe('reward pool', () => {
  // Default listen rules (15 s heartbeats, 30 s minimum); a budget for exactly three vouchers.
  const REWARD = 1000n;
  const clock = new TestClock(pastEpoch(2));
  let service: RewardsService;
  const artist = as(['ARTIST']);

  beforeAll(() => {
    service = rewardsService(h, { clock, env: { REWARD_PER_LISTEN: String(REWARD), EPOCH_BUDGET: String(3n * REWARD) } });
  });

  it('never goes below zero under 50 concurrent completions', async () => {
    const songId = await publishSong(h, artist, 1, 'Short One');
    const fans = Array.from({ length: 50 }, fan);
    const sessions = await Promise.all(fans.map(async (listener) => (await service.startSession(listener, songId)).id));
    clock.skip(1_200);
    await Promise.all(fans.map((listener, i) => service.heartbeat(listener, sessions[i]!, 1)));
    const outcomes = await Promise.all(fans.map((listener, i) => service.complete(listener, sessions[i]!, newVoucherSecrets().commitment.toString())));
    expect(outcomes.filter((o) => o.voucher).length).toBe(3);
    expect(outcomes.filter((o) => o.rejectionReason === 'POOL_EXHAUSTED').length).toBe(47);
    expect(await service.pool()).toMatchObject({ total_budget: String(3n * REWARD), remaining: '0' });
    const leaves = await h.orm.em
      .fork()
      .getConnection()
      .execute<{ leaf_index: number }[]>('select leaf_index from vouchers where epoch = ? order by leaf_index', [clock.epoch]);
    expect(leaves.map((r) => r.leaf_index)).toEqual([0, 1, 2]);
  });

  it('an admin funds the pool; others may not', async () => {
    const epoch = (await service.pool()).epoch;
    expect(await codeOf(service.fundPool(fan(), epoch, '5000'))).toBe('FORBIDDEN');
    const admin = as(['ADMIN']);
    expect(await codeOf(service.fundPool(admin, epoch, '-5'))).toBe('BAD_USER_INPUT');
    const funded = await service.fundPool(admin, epoch, '5000');
    expect({ totalBudget: funded.total_budget, remaining: funded.remaining }).toEqual({ totalBudget: String(3n * REWARD + 5000n), remaining: '5000' });
  });

  it('rewards.pool.funded.v1 funds the epoch once, however often it is delivered', async () => {
    const before = await service.pool();
    await h.inject(PoolFunded, { epoch: before.epoch, amount: '700', fundedBy: 'treasury' }, { times: 2 });
    expect(await service.pool()).toMatchObject({
      total_budget: String(BigInt(before.total_budget) + 700n),
      remaining: String(BigInt(before.remaining) + 700n),
    });
    expect(await h.deadLetters(PoolFunded.type)).toEqual([]);
  });
});

describe('wall-clock bound', () => {
  const clock = new TestClock(pastEpoch(2));
  let service: RewardsService;
  const artist = as(['ARTIST']);

  beforeAll(() => {
    // The reward pool's settings: default listen rules.
    service = rewardsService(h, { clock, env: { REWARD_PER_LISTEN: '1000', EPOCH_BUDGET: '3000' } });
  });

  it('a 60-second listen claimed after 10 seconds of wall time earns no voucher', async () => {
    const songId = await publishSong(h, artist, 60, 'Sixty Seconds');
    const listener = fan();
    const session = await service.startSession(listener, songId);
    clock.skip(10_000);
    const beat = await service.heartbeat(listener, session.id, 60);
    expect(listened(beat)).toBeLessThanOrEqual(12);
    const done = await service.complete(listener, session.id, newVoucherSecrets().commitment.toString());
    expect(done).toMatchObject({ voucher: null, rejectionReason: 'TOO_SHORT' });
  });

  it('heartbeats sent back to back credit no more than the time since the session started plus one tolerance', async () => {
    const songId = await publishSong(h, artist, 40, 'Forty Seconds');
    const listener = fan();
    // Taken before the session starts, so the time measured here is never less than the server's.
    const started = clock.now().getTime();
    const session = await service.startSession(listener, songId);
    let credited = 0;
    // Each heartbeat alone looks plausible (2 s of playback, within the 2 s tolerance); together they claim 32 s.
    for (let position = 2; position <= 32; position += 2) {
      credited = listened(await service.heartbeat(listener, session.id, position));
    }
    const elapsed = (clock.now().getTime() - started) / 1000;
    expect(credited).toBeLessThanOrEqual(elapsed + 2);
    const done = await service.complete(listener, session.id, newVoucherSecrets().commitment.toString());
    expect(done).toMatchObject({ voucher: null, rejectionReason: 'TOO_SHORT', session: { status: 'REJECTED' } });
    expect(listened(done.session)).toBeLessThanOrEqual(elapsed + 2);
  });
});
