// Properties of the listen rules over random heartbeat schedules: no schedule, however its
// times, positions, seeks and gaps are chosen, credits more than the wall-clock time since
// the session started plus one tolerance; a client playing in real time earns what it played.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { creditHeartbeat, judgeListen, minimumListenSeconds, type ListenRules, type SessionProgress } from '../src/domain/listening.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const start: SessionProgress = { startedAt: t0, listenedSeconds: 0, lastHeartbeatAt: t0, lastPositionSeconds: 0, gapped: false };
/** Float slack for sums of fractional seconds. */
const EPSILON = 1e-9;

const rulesArb: fc.Arbitrary<ListenRules> = fc.record({
  heartbeatIntervalSeconds: fc.integer({ min: 1, max: 30 }),
  toleranceSeconds: fc.integer({ min: 0, max: 5 }),
  minListenSeconds: fc.integer({ min: 1, max: 60 }),
  dailyCap: fc.constant(200),
  songDailyCap: fc.constant(3),
});

/** Any schedule: bursts (0 ms apart), ordinary gaps and long silences; positions jump anywhere, backwards included. */
const heartbeatArb = fc.record({
  afterMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 70_000 })),
  positionSeconds: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1_000 })),
});

function judge(progress: SessionProgress, completedAt: Date, songDurationSeconds: number, rules: ListenRules) {
  return judgeListen({ progress, completedAt, songDurationSeconds, listenerIsArtist: false, vouchersToday: 0, songVouchersToday: 0, rules });
}

describe('listen rules over random heartbeat schedules', () => {
  it('never credit more than the time since the session started plus one tolerance, nor the song', () => {
    fc.assert(
      fc.property(rulesArb, fc.integer({ min: 1, max: 600 }), fc.array(heartbeatArb, { maxLength: 60 }), (rules, duration, heartbeats) => {
        let progress = start;
        let elapsedMs = 0;
        for (const heartbeat of heartbeats) {
          elapsedMs += heartbeat.afterMs;
          progress = creditHeartbeat(progress, { at: after(elapsedMs / 1000), positionSeconds: heartbeat.positionSeconds }, duration, rules);
          expect(progress.listenedSeconds).toBeGreaterThanOrEqual(0);
          expect(progress.listenedSeconds).toBeLessThanOrEqual(elapsedMs / 1000 + rules.toleranceSeconds + EPSILON);
          expect(progress.listenedSeconds).toBeLessThanOrEqual(duration);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuse a completion that comes before the minimum listen could have been played', () => {
    fc.assert(
      fc.property(
        rulesArb,
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.record({ afterMs: fc.integer({ min: 0, max: 3_000 }), positionSeconds: fc.integer({ min: 0, max: 120 }) }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 5_000 }),
        (rules, duration, heartbeats, completeAfterMs) => {
          let progress = start;
          let elapsedMs = 0;
          for (const heartbeat of heartbeats) {
            elapsedMs += heartbeat.afterMs;
            progress = creditHeartbeat(progress, { at: after(elapsedMs / 1000), positionSeconds: heartbeat.positionSeconds }, duration, rules);
          }
          const completedSeconds = (elapsedMs + completeAfterMs) / 1000;
          fc.pre(completedSeconds + rules.toleranceSeconds < minimumListenSeconds(duration, rules));
          expect(['TOO_SHORT', 'HEARTBEAT_GAP']).toContain(judge(progress, after(completedSeconds), duration, rules));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('credit a client playing in real time (up to its tolerance ahead) what it played, and count the listen', () => {
    fc.assert(
      fc.property(
        rulesArb.filter((rules) => rules.toleranceSeconds >= 1),
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.double({ min: 0.2, max: 1, noNaN: true }), { minLength: 1, maxLength: 80 }),
        fc.nat(),
        (rules, duration, intervalFractions, leadSeed) => {
          // Playback may have started up to `lead` whole seconds before the server recorded the session.
          const lead = leadSeed % rules.toleranceSeconds;
          let progress = start;
          let elapsedMs = 0;
          for (const fraction of intervalFractions) {
            elapsedMs += Math.round(fraction * rules.heartbeatIntervalSeconds * 1000);
            const positionSeconds = Math.min(duration, Math.floor(elapsedMs / 1000) + lead);
            progress = creditHeartbeat(progress, { at: after(elapsedMs / 1000), positionSeconds }, duration, rules);
          }
          const elapsed = elapsedMs / 1000;
          const played = Math.min(duration, Math.floor(elapsed) + lead);
          expect(progress.gapped).toBe(false);
          expect(progress.listenedSeconds).toBe(played);
          const verdict = judge(progress, after(elapsed + 1), duration, rules);
          expect(verdict).toBe(played >= minimumListenSeconds(duration, rules) ? null : 'TOO_SHORT');
        },
      ),
      { numRuns: 500 },
    );
  });
});
