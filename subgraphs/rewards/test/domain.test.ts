import { describe, expect, it } from 'vitest';
import { poseidon2 } from '@vibestream/circuits';
import { addressToField, fieldToAddress, FIELD_PRIME, parseFieldElement } from '../src/domain/field.ts';
import {
  creditHeartbeat,
  defaultListenRules,
  epochOf,
  judgeListen,
  minimumListenSeconds,
  wallClockAllowance,
  type SessionProgress,
} from '../src/domain/listening.ts';
import { hashUp, siblingRefs, zeroHashes } from '../src/domain/merkle.ts';

const t0 = new Date('2026-11-23T10:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const fresh: SessionProgress = { startedAt: t0, listenedSeconds: 0, lastHeartbeatAt: t0, lastPositionSeconds: 0, gapped: false };
const rules = defaultListenRules;

describe('heartbeat credit', () => {
  it('credits playback progress up to wall-clock time plus tolerance', () => {
    expect(creditHeartbeat(fresh, { at: at(15), positionSeconds: 15 }, 200, rules).listenedSeconds).toBe(15);
    // A client claiming 60 s after 10 s of wall time gets 10 s + tolerance.
    expect(creditHeartbeat(fresh, { at: at(10), positionSeconds: 60 }, 200, rules).listenedSeconds).toBe(10 + rules.toleranceSeconds);
  });

  it('credits nothing for seeking back, and never past the song', () => {
    const after = creditHeartbeat(fresh, { at: at(15), positionSeconds: 15 }, 200, rules);
    const back = creditHeartbeat(after, { at: at(30), positionSeconds: 5 }, 200, rules);
    expect(back.listenedSeconds).toBe(15);
    expect(back.lastPositionSeconds).toBe(5);
    const short = creditHeartbeat(fresh, { at: at(15), positionSeconds: 500 }, 12, rules);
    expect(short.listenedSeconds).toBe(12);
  });

  it('never credits more than the time since the session started plus one tolerance', () => {
    // 2 s of playback per heartbeat, each within its own tolerance, sent back to back.
    let progress = fresh;
    for (let position = 2; position <= 32; position += 2) {
      progress = creditHeartbeat(progress, { at: at(0.03 * position), positionSeconds: position }, 200, rules);
    }
    expect(progress.listenedSeconds).toBeCloseTo(0.03 * 32 + rules.toleranceSeconds);
    // Real time catches up: the next heartbeat may credit what the clock now allows.
    const later = creditHeartbeat(progress, { at: at(20), positionSeconds: 34 }, 200, rules);
    expect(later.listenedSeconds).toBeCloseTo(progress.listenedSeconds + 2);
    expect(wallClockAllowance(t0, at(10), rules)).toBe(10 + rules.toleranceSeconds);
    expect(wallClockAllowance(t0, at(-5), rules)).toBe(rules.toleranceSeconds);
  });

  it('a gap over two intervals ends credit for good', () => {
    const gapped = creditHeartbeat(fresh, { at: at(31), positionSeconds: 31 }, 200, rules);
    expect(gapped).toMatchObject({ gapped: true, listenedSeconds: 0 });
    const later = creditHeartbeat(gapped, { at: at(40), positionSeconds: 40 }, 200, rules);
    expect(later).toMatchObject({ gapped: true, listenedSeconds: 0 });
    expect(creditHeartbeat(fresh, { at: at(30), positionSeconds: 30 }, 200, rules).gapped).toBe(false);
  });
});

describe('listen judgement', () => {
  const base = {
    progress: { ...fresh, listenedSeconds: 30, lastHeartbeatAt: at(30) },
    completedAt: at(31),
    songDurationSeconds: 200,
    listenerIsArtist: false,
    vouchersToday: 0,
    songVouchersToday: 0,
    rules,
  };
  it('accepts a real listen and names each rejection', () => {
    expect(judgeListen(base)).toBeNull();
    expect(judgeListen({ ...base, listenerIsArtist: true })).toBe('SELF_LISTEN');
    expect(judgeListen({ ...base, progress: { ...base.progress, listenedSeconds: 29 } })).toBe('TOO_SHORT');
    expect(judgeListen({ ...base, progress: { ...base.progress, listenedSeconds: 10, gapped: true } })).toBe('HEARTBEAT_GAP');
    expect(judgeListen({ ...base, progress: { ...base.progress, listenedSeconds: 10 }, completedAt: at(90) })).toBe('HEARTBEAT_GAP');
    expect(judgeListen({ ...base, vouchersToday: 200 })).toBe('DAILY_CAP');
    expect(judgeListen({ ...base, songVouchersToday: 3 })).toBe('SONG_DAILY_CAP');
  });

  it('TOO_SHORT when completed before the minimum could have been listened, whatever was credited', () => {
    // A session credited 30 s (as the rule before the wall-clock allowance could) completed after 5 s.
    expect(judgeListen({ ...base, completedAt: at(5) })).toBe('TOO_SHORT');
    expect(judgeListen({ ...base, completedAt: at(30 - rules.toleranceSeconds) })).toBeNull();
  });

  it('the minimum listen is min(30 s, song duration)', () => {
    expect(minimumListenSeconds(200, rules)).toBe(30);
    expect(minimumListenSeconds(12, rules)).toBe(12);
    expect(judgeListen({ ...base, songDurationSeconds: 12, progress: { ...base.progress, listenedSeconds: 12 } })).toBeNull();
  });

  it('epochs are UTC days', () => {
    expect(epochOf(new Date('1970-01-02T00:00:00Z'))).toBe(1);
    expect(epochOf(new Date('2026-11-23T23:59:59Z'))).toBe(epochOf(new Date('2026-11-23T00:00:00Z')));
  });
});

describe('field elements', () => {
  it('parses canonical decimals below the prime only', () => {
    expect(parseFieldElement('42')).toBe(42n);
    expect(parseFieldElement('0')).toBe(0n);
    expect(parseFieldElement((FIELD_PRIME - 1n).toString())).toBe(FIELD_PRIME - 1n);
    for (const bad of [FIELD_PRIME.toString(), '-1', '01', '0x10', '1.5', '', 'abc']) expect(parseFieldElement(bad)).toBeNull();
  });

  it('maps addresses to field elements and back', () => {
    const address = '0x00000000000000000000000000000000000000aB';
    expect(fieldToAddress(addressToField(address))).toBe(address.toLowerCase());
    expect(fieldToAddress(1n << 160n)).toBeNull();
  });
});

describe('incremental Merkle tree', () => {
  const depth = 4;
  const zeros = zeroHashes(depth, poseidon2);

  /** A reference tree computed naively over all leaves. */
  function naiveRoot(leaves: bigint[]): bigint {
    let level = Array.from({ length: 2 ** depth }, (_, i) => leaves[i] ?? 0n);
    while (level.length > 1) level = Array.from({ length: level.length / 2 }, (_, i) => poseidon2(level[2 * i]!, level[2 * i + 1]!));
    return level[0]!;
  }

  it('appends leaf by leaf to the same root as the naive tree, with valid paths', () => {
    const store = new Map<string, bigint>();
    const leaves: bigint[] = [];
    for (let i = 0; i < 7; i++) {
      const leaf = BigInt(1000 + i);
      const result = hashUp(leaf, i, depth, (r) => store.get(`${r.level}:${r.index}`), poseidon2, zeros);
      for (const n of result.nodes) store.set(`${n.level}:${n.index}`, n.value);
      leaves.push(leaf);
      expect(result.root).toBe(naiveRoot(leaves));
    }
    // Every earlier leaf's path leads to the current root.
    for (let i = 0; i < leaves.length; i++) {
      const path = hashUp(leaves[i]!, i, depth, (r) => store.get(`${r.level}:${r.index}`), poseidon2, zeros);
      expect(path.root).toBe(naiveRoot(leaves));
      expect(path.pathIndices).toEqual(Array.from({ length: depth }, (_, level) => (i >> level) & 1));
    }
    expect(siblingRefs(5, depth)).toEqual([
      { level: 0, index: 4 },
      { level: 1, index: 3 },
      { level: 2, index: 0 },
      { level: 3, index: 1 },
    ]);
    expect(() => hashUp(1n, 16, depth, () => undefined, poseidon2, zeros)).toThrow(RangeError);
  });
});
