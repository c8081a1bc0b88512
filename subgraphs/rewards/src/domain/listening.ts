/** Anti-gaming rules for listen sessions, as pure functions. Every number is configurable. */
export interface ListenRules {
  heartbeatIntervalSeconds: number;
  /** Slack added to wall-clock time when crediting a heartbeat (network jitter). */
  toleranceSeconds: number;
  /** Minimum listen is min(this, song duration). */
  minListenSeconds: number;
  dailyCap: number;
  songDailyCap: number;
}

export const defaultListenRules: ListenRules = {
  heartbeatIntervalSeconds: 15,
  toleranceSeconds: 2,
  minListenSeconds: 30,
  dailyCap: 200,
  songDailyCap: 3,
};

export interface SessionProgress {
  /** When the server started the session: what is credited never outruns the time since. */
  startedAt: Date;
  listenedSeconds: number;
  lastHeartbeatAt: Date;
  lastPositionSeconds: number;
  /** Set once a gap of more than two intervals was seen: no more credit after it. */
  gapped: boolean;
}

/**
 * The most a session may have credited at `at`: the server's wall-clock time since it started
 * plus ONE tolerance. Each heartbeat also gets a tolerance of its own, so without this bound N
 * heartbeats sent back to back would earn N tolerances in no time at all.
 */
export function wallClockAllowance(startedAt: Date, at: Date, rules: ListenRules): number {
  return Math.max(0, (at.getTime() - startedAt.getTime()) / 1000) + rules.toleranceSeconds;
}

/**
 * Credits one heartbeat. Playback progress counts only as far as wall-clock time since the
 * previous heartbeat allows (plus tolerance), the session's total never beyond its
 * {@link wallClockAllowance} nor the song's length; seeking backwards credits nothing; a gap
 * of over two intervals ends credit for the session.
 */
export function creditHeartbeat(
  progress: SessionProgress,
  heartbeat: { at: Date; positionSeconds: number },
  songDurationSeconds: number,
  rules: ListenRules,
): SessionProgress {
  const elapsed = Math.max(0, (heartbeat.at.getTime() - progress.lastHeartbeatAt.getTime()) / 1000);
  const position = Math.max(0, Math.min(heartbeat.positionSeconds, songDurationSeconds));
  if (progress.gapped || elapsed > 2 * rules.heartbeatIntervalSeconds) {
    return { ...progress, gapped: true, lastHeartbeatAt: heartbeat.at, lastPositionSeconds: position };
  }
  const advanced = Math.max(0, position - progress.lastPositionSeconds);
  const credit = Math.min(advanced, elapsed + rules.toleranceSeconds);
  return {
    ...progress,
    listenedSeconds: Math.min(songDurationSeconds, wallClockAllowance(progress.startedAt, heartbeat.at, rules), progress.listenedSeconds + credit),
    lastHeartbeatAt: heartbeat.at,
    lastPositionSeconds: position,
    gapped: false,
  };
}

export type RejectionReason = 'TOO_SHORT' | 'HEARTBEAT_GAP' | 'SELF_LISTEN' | 'DAILY_CAP' | 'SONG_DAILY_CAP' | 'POOL_EXHAUSTED' | 'DUPLICATE_COMMITMENT';

export function minimumListenSeconds(songDurationSeconds: number, rules: ListenRules): number {
  return Math.min(rules.minListenSeconds, songDurationSeconds);
}

/**
 * Whether a completed session is a real listen (the listen rules), before any reward-side
 * check. null means it counts as a completed listen.
 */
export function judgeListen(input: {
  progress: SessionProgress;
  completedAt: Date;
  songDurationSeconds: number;
  listenerIsArtist: boolean;
  vouchersToday: number;
  songVouchersToday: number;
  rules: ListenRules;
}): RejectionReason | null {
  const { progress, rules } = input;
  if (input.listenerIsArtist) return 'SELF_LISTEN';
  // Bounded here too, so a session credited before the allowance existed cannot complete early.
  const credited = Math.min(progress.listenedSeconds, wallClockAllowance(progress.startedAt, input.completedAt, rules));
  if (credited < minimumListenSeconds(input.songDurationSeconds, rules)) {
    const silentFor = (input.completedAt.getTime() - progress.lastHeartbeatAt.getTime()) / 1000;
    return progress.gapped || silentFor > 2 * rules.heartbeatIntervalSeconds ? 'HEARTBEAT_GAP' : 'TOO_SHORT';
  }
  if (input.vouchersToday >= rules.dailyCap) return 'DAILY_CAP';
  if (input.songVouchersToday >= rules.songDailyCap) return 'SONG_DAILY_CAP';
  return null;
}

/** An epoch is a UTC day, numbered in days since 1970-01-01. */
export function epochOf(at: Date): number {
  return Math.floor(at.getTime() / 86_400_000);
}

export function epochStart(epoch: number): Date {
  return new Date(epoch * 86_400_000);
}
