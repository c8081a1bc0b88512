// The door-side verifier on its own: only the event's public key, the event id and a clock.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newDoorKey, issueQr } from '../src/domain/door-keys.ts';
import { QR_CLOCK_SKEW_SECONDS, QR_WINDOW_SECONDS, decodeQrPayload, encodeQrPayload, verifyTicketQr, windowStartAt } from '../src/door/verify.ts';

const key = newDoorKey();
const eventId = randomUUID();
const ticket = { eventId, ticketId: randomUUID(), holderId: randomUUID(), generation: 1 };
const t0 = Date.UTC(2026, 11, 7, 20, 0, 0);

describe('ticket QR codes', () => {
  it('are compact, and verify offline with the public key alone within their rotation', () => {
    const { qr, expiresAt } = issueQr(key.privateKey, ticket, t0 + 1_000);
    expect(qr.length).toBeLessThanOrEqual(170);
    expect(expiresAt.getTime()).toBe((windowStartAt(t0 + 1_000) + QR_WINDOW_SECONDS) * 1000);
    const verdict = verifyTicketQr(qr, { publicKey: key.publicKey, eventId, nowMs: t0 + 10_000 });
    expect(verdict).toEqual({ ok: true, claims: { ...ticket, windowStart: windowStartAt(t0 + 1_000) } });
  });

  it('rotate: a code goes stale after its window (a screenshot stops working), a fresh one works', () => {
    const { qr } = issueQr(key.privateKey, ticket, t0);
    const later = t0 + (QR_WINDOW_SECONDS + QR_CLOCK_SKEW_SECONDS) * 1000;
    expect(verifyTicketQr(qr, { publicKey: key.publicKey, eventId, nowMs: later })).toMatchObject({ ok: false, reason: 'EXPIRED' });
    expect(verifyTicketQr(qr, { publicKey: key.publicKey, eventId, nowMs: t0 - (QR_CLOCK_SKEW_SECONDS + 1) * 1000 })).toMatchObject({
      ok: false,
      reason: 'NOT_YET_VALID',
    });
    const fresh = issueQr(key.privateKey, ticket, later).qr;
    expect(fresh).not.toBe(qr);
    expect(verifyTicketQr(fresh, { publicKey: key.publicKey, eventId, nowMs: later }).ok).toBe(true);
  });

  it("refuses another event's code, and a code signed by another event's key", () => {
    const other = newDoorKey();
    const otherEvent = randomUUID();
    const theirs = issueQr(other.privateKey, { ...ticket, eventId: otherEvent }, t0).qr;
    expect(verifyTicketQr(theirs, { publicKey: other.publicKey, eventId, nowMs: t0 })).toMatchObject({ ok: false, reason: 'OTHER_EVENT' });
    expect(verifyTicketQr(theirs, { publicKey: key.publicKey, eventId, nowMs: t0 })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    const forged = issueQr(other.privateKey, ticket, t0).qr;
    expect(verifyTicketQr(forged, { publicKey: key.publicKey, eventId, nowMs: t0 })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
  });

  it('refuses garbage without throwing', () => {
    for (const qr of ['', 'x', '!!!', 'A'.repeat(162), 'A'.repeat(5000), '%00', Buffer.alloc(121).toString('base64url')]) {
      expect(verifyTicketQr(qr, { publicKey: key.publicKey, eventId, nowMs: t0 }).ok).toBe(false);
    }
  });

  it('property: changing any bit of a code makes it REJECTED', () => {
    const { qr } = issueQr(key.privateKey, ticket, t0);
    const bytes = Buffer.from(qr, 'base64url');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), (bit) => {
        const tampered = Buffer.from(bytes);
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        const verdict = verifyTicketQr(tampered.toString('base64url'), { publicKey: key.publicKey, eventId, nowMs: t0 });
        expect(verdict.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('property: the payload round-trips through its encoding', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.uuid(),
        fc.uuid(),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (e, t, h, generation, windowStart) => {
          const claims = { eventId: e.toLowerCase(), ticketId: t.toLowerCase(), holderId: h.toLowerCase(), generation, windowStart };
          expect(decodeQrPayload(encodeQrPayload(claims))).toEqual(claims);
        },
      ),
    );
  });
});
