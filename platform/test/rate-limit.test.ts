import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFailureLimiter, createRedis, releaseAttempt, reserveAttempt, type FailureLimiter, type FailureWindow } from '@vibestream/platform';
import { TEST_REDIS_URL } from '@vibestream/testkit';

const WINDOW_MS = 60_000;
const email = { key: 'email:a', limit: 3 };
const address = { key: 'addr:1', limit: 5 };

describe('reserveAttempt (the rule)', () => {
  it('admits attempts while every key is under its limit, counting each on every key', () => {
    const windows = new Map<string, FailureWindow>();
    for (let i = 0; i < 3; i++) expect(reserveAttempt(windows, [email, address], 0, WINDOW_MS).admitted).toBe(true);
    expect(reserveAttempt(windows, [email, address], 1_000, WINDOW_MS)).toEqual({ admitted: false, retryAfterSeconds: 59 });
    // The refused attempt counted on no key.
    expect(windows.get('addr:1')!.count).toBe(3);
  });

  it('refuses when any one key is at its limit', () => {
    const windows = new Map<string, FailureWindow>([['addr:1', { count: 5, endsAt: 30_000 }]]);
    expect(reserveAttempt(windows, [email, address], 0, WINDOW_MS)).toEqual({ admitted: false, retryAfterSeconds: 30 });
    expect(windows.has('email:a')).toBe(false);
  });

  it('keeps the window fixed from the first attempt, and starts afresh once it ends', () => {
    const windows = new Map<string, FailureWindow>();
    reserveAttempt(windows, [email], 0, WINDOW_MS);
    reserveAttempt(windows, [email], 50_000, WINDOW_MS);
    expect(windows.get('email:a')).toEqual({ count: 2, endsAt: WINDOW_MS });
    reserveAttempt(windows, [email], WINDOW_MS, WINDOW_MS);
    expect(windows.get('email:a')).toEqual({ count: 1, endsAt: 2 * WINDOW_MS });
  });

  it('a released attempt makes room for another in its own window, never in a later one', () => {
    const windows = new Map<string, FailureWindow>();
    const first = reserveAttempt(windows, [email], 0, WINDOW_MS);
    for (let i = 0; i < 2; i++) reserveAttempt(windows, [email], 0, WINDOW_MS);
    if (first.admitted) releaseAttempt(first.counted);
    expect(reserveAttempt(windows, [email], 0, WINDOW_MS).admitted).toBe(true);
    // An attempt that began in the last window and succeeds in this one frees nothing here.
    const late = reserveAttempt(windows, [email], WINDOW_MS - 1, WINDOW_MS);
    expect(late.admitted).toBe(false);
    const straddling = reserveAttempt(new Map(), [email], 0, WINDOW_MS);
    for (let i = 0; i < 3; i++) reserveAttempt(windows, [email], WINDOW_MS, WINDOW_MS);
    if (straddling.admitted) releaseAttempt(straddling.counted);
    expect(windows.get('email:a')!.count).toBe(3);
  });

  it('property: within one window, attempts admitted and not released never exceed any key’s limit', () => {
    const keys = [email, address, { key: 'email:b', limit: 2 }];
    const step = fc.oneof(
      fc.record({ op: fc.constant('reserve' as const), keys: fc.subarray([0, 1, 2], { minLength: 1 }) }),
      fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 20_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const windows = new Map<string, FailureWindow>();
        // The attempts still outstanding: when each was admitted and the windows it counted in.
        const outstanding: { keys: number[]; at: number; counted: FailureWindow[] }[] = [];
        let now = 0;
        for (const s of steps) {
          if (s.op === 'wait') now += s.ms;
          else if (s.op === 'release' && outstanding.length) releaseAttempt(outstanding.splice(s.pick % outstanding.length, 1)[0]!.counted);
          else if (s.op === 'reserve') {
            const verdict = reserveAttempt(
              windows,
              s.keys.map((i) => keys[i]!),
              now,
              WINDOW_MS,
            );
            if (verdict.admitted) outstanding.push({ keys: s.keys, at: now, counted: verdict.counted });
          }
          for (const [i, { key, limit }] of keys.entries()) {
            const window = windows.get(key);
            if (!window || window.endsAt <= now) continue;
            const inWindow = outstanding.filter((o) => o.keys.includes(i) && o.at >= window.endsAt - WINDOW_MS).length;
            if (inWindow > limit) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

async function concurrentAttempts(limiters: FailureLimiter[], count: number) {
  const keys = [{ key: 'login:email:x', limit: 5 }];
  return Promise.all(Array.from({ length: count }, (_, i) => limiters[i % limiters.length]!.reserve(keys)));
}

describe('failure limiters', () => {
  it('in-process: of 20 concurrent attempts, 5 are admitted; a release admits one more; reset clears', async () => {
    const limiter = createFailureLimiter(null, 'unused:', 60);
    const verdicts = await concurrentAttempts([limiter], 20);
    expect(verdicts.filter((v) => v.admitted)).toHaveLength(5);
    expect(verdicts.find((v) => !v.admitted)).toMatchObject({ retryAfterSeconds: 60 });
    const first = verdicts[0]!;
    if (first.admitted) await first.release();
    expect((await concurrentAttempts([limiter], 3)).filter((v) => v.admitted)).toHaveLength(1);
    await limiter.reset([{ key: 'login:email:x', limit: 5 }]);
    expect((await concurrentAttempts([limiter], 3)).filter((v) => v.admitted)).toHaveLength(3);
  });

  it('Redis: two replicas on their own connections share one count; a release admits one more', async () => {
    const prefix = `test:rate-limit:${randomBytes(4).toString('hex')}:`;
    const [a, b] = [createRedis(TEST_REDIS_URL), createRedis(TEST_REDIS_URL)];
    try {
      const replicas = [createFailureLimiter(a, prefix, 60), createFailureLimiter(b, prefix, 60)];
      const verdicts = await concurrentAttempts(replicas, 20);
      expect(verdicts.filter((v) => v.admitted)).toHaveLength(5);
      const refused = verdicts.find((v) => !v.admitted);
      expect(refused && !refused.admitted && refused.retryAfterSeconds).toBeGreaterThan(55);
      expect(await a.ttl(`${prefix}ratelimit:login:email:x`)).toBeGreaterThan(55);
      // Which five win depends on how the two connections interleave.
      const first = verdicts.find((v) => v.admitted);
      if (first?.admitted) await first.release();
      expect((await concurrentAttempts(replicas, 3)).filter((v) => v.admitted)).toHaveLength(1);
      // A reservation from before a reset takes nothing from the window after it.
      await replicas[1]!.reset([{ key: 'login:email:x', limit: 5 }]);
      const fresh = (await concurrentAttempts(replicas, 2)).filter((v) => v.admitted);
      expect(fresh).toHaveLength(2);
      expect(await a.get(`${prefix}ratelimit:login:email:x`)).toBe('2');
      for (const v of verdicts) if (v.admitted) await v.release();
      expect(await a.get(`${prefix}ratelimit:login:email:x`)).toBe('2');
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });
});
