/**
 * The door-side ticket QR verifier: a pure function of the QR text, the event's door public key,
 * the event id and the clock. It needs no network and no secret, so a door device can run it
 * offline with only the public key (`Event.doorPublicKey`). Nothing here imports the rest of the
 * subgraph: it is the whole of what a door needs (node:crypto only).
 *
 * A QR is base64url of 57 payload bytes followed by their 64-byte Ed25519 signature (162 chars):
 *   [0]      format version (1)
 *   [1..17)  event id (UUID bytes)      [17..33) ticket id      [33..49) holder's user id
 *   [49..53) ticket generation (u32 BE; a transfer increments it, so the old holder's codes are stale)
 *   [53..57) window start, unix seconds (u32 BE); the code is valid QR_WINDOW_SECONDS from it
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export const QR_VERSION = 1;
/** How long one rotation of a ticket's QR is valid: a screenshot goes stale after it. */
export const QR_WINDOW_SECONDS = 30;
/** Clock difference tolerated between the server that issued a code and the door. */
export const QR_CLOCK_SKEW_SECONDS = 5;
export const QR_PAYLOAD_BYTES = 57;
export const QR_SIGNATURE_BYTES = 64;

export interface QrClaims {
  eventId: string;
  ticketId: string;
  holderId: string;
  generation: number;
  /** Unix seconds at which this rotation's window starts. */
  windowStart: number;
}

export type QrRejection = 'MALFORMED' | 'BAD_SIGNATURE' | 'EXPIRED' | 'NOT_YET_VALID' | 'OTHER_EVENT';
export type QrVerdict = { ok: true; claims: QrClaims } | { ok: false; reason: QrRejection; claims?: QrClaims };

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidToBytes(id: string): Buffer {
  if (!UUID.test(id)) throw new Error(`not a UUID: ${id}`);
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

export function bytesToUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The 57 bytes a door key signs. */
export function encodeQrPayload(claims: QrClaims): Buffer {
  const out = Buffer.alloc(QR_PAYLOAD_BYTES);
  out[0] = QR_VERSION;
  uuidToBytes(claims.eventId).copy(out, 1);
  uuidToBytes(claims.ticketId).copy(out, 17);
  uuidToBytes(claims.holderId).copy(out, 33);
  out.writeUInt32BE(claims.generation, 49);
  out.writeUInt32BE(claims.windowStart, 53);
  return out;
}

export function decodeQrPayload(payload: Uint8Array): QrClaims {
  const bytes = Buffer.from(payload);
  return {
    eventId: bytesToUuid(bytes.subarray(1, 17)),
    ticketId: bytesToUuid(bytes.subarray(17, 33)),
    holderId: bytesToUuid(bytes.subarray(33, 49)),
    generation: bytes.readUInt32BE(49),
    windowStart: bytes.readUInt32BE(53),
  };
}

/** An Ed25519 public key from its 32 raw bytes, base64url (as `Event.doorPublicKey` gives it). */
export function doorPublicKey(base64url: string): KeyObject {
  const raw = Buffer.from(base64url, 'base64url');
  if (raw.length !== 32) throw new Error('a door public key is 32 bytes (base64url)');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/**
 * Verifies a ticket QR offline. `eventId` is the event this door admits to; `nowMs` the door's
 * clock. Checks, in order: shape, signature (by the event's key), event, validity window.
 */
export function verifyTicketQr(qr: string, door: { publicKey: KeyObject | string; eventId: string; nowMs: number }): QrVerdict {
  if (typeof qr !== 'string' || qr.length > 400 || !/^[A-Za-z0-9_-]+$/.test(qr)) return { ok: false, reason: 'MALFORMED' };
  const bytes = Buffer.from(qr, 'base64url');
  if (bytes.length !== QR_PAYLOAD_BYTES + QR_SIGNATURE_BYTES || bytes[0] !== QR_VERSION) return { ok: false, reason: 'MALFORMED' };
  const payload = bytes.subarray(0, QR_PAYLOAD_BYTES);
  const signature = bytes.subarray(QR_PAYLOAD_BYTES);
  const key = typeof door.publicKey === 'string' ? doorPublicKey(door.publicKey) : door.publicKey;
  let valid = false;
  try {
    valid = verify(null, payload, key, signature);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: 'BAD_SIGNATURE' };
  const claims = decodeQrPayload(payload);
  if (claims.eventId !== door.eventId.toLowerCase()) return { ok: false, reason: 'OTHER_EVENT', claims };
  const verdict = windowVerdict(claims.windowStart, door.nowMs);
  return verdict ? { ok: false, reason: verdict, claims } : { ok: true, claims };
}

/** Whether `nowMs` is inside the rotation that starts at `windowStart` (with the tolerated skew). */
export function windowVerdict(windowStart: number, nowMs: number): 'EXPIRED' | 'NOT_YET_VALID' | null {
  const now = nowMs / 1000;
  if (now < windowStart - QR_CLOCK_SKEW_SECONDS) return 'NOT_YET_VALID';
  if (now >= windowStart + QR_WINDOW_SECONDS + QR_CLOCK_SKEW_SECONDS) return 'EXPIRED';
  return null;
}

/** The window a code issued at `nowMs` carries. */
export function windowStartAt(nowMs: number): number {
  return Math.floor(nowMs / 1000 / QR_WINDOW_SECONDS) * QR_WINDOW_SECONDS;
}
