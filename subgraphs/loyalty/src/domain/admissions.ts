/**
 * Check-in rules. A ticket has at most one winning admission: online, the first scan that
 * commits; across doors that admitted offline, the first by time (ties: the one recorded first).
 */
/** How many offline admissions one sync may upload. */
export const MAX_OFFLINE_CHECK_INS = 500;

export interface Admission {
  deviceId: string;
  admittedAt: Date;
}

export type AdmissionDecision =
  /** No admission yet: this one wins. */
  | 'ADMIT'
  /** The same device already recorded this admission: nothing changes. */
  | 'SAME'
  /** Another admission came first: this one is a CONFLICT. */
  | 'CONFLICT'
  /** This one came first: it wins and the current winner becomes a CONFLICT. */
  | 'SUPERSEDE';

export function decideAdmission(winner: Admission | null, incoming: Admission): AdmissionDecision {
  if (!winner) return 'ADMIT';
  if (winner.deviceId === incoming.deviceId) return 'SAME';
  return incoming.admittedAt < winner.admittedAt ? 'SUPERSEDE' : 'CONFLICT';
}

/** The winner of a set of admissions of one ticket, whatever order they arrive in. */
export function winnerOf(admissions: readonly Admission[]): Admission | null {
  let winner: Admission | null = null;
  for (const a of admissions) {
    const d = decideAdmission(winner, a);
    if (d === 'ADMIT' || d === 'SUPERSEDE') winner = a;
  }
  return winner;
}
