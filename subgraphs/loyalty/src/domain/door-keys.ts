import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { encodeQrPayload, windowStartAt, QR_WINDOW_SECONDS, type QrClaims } from '../door/verify.ts';

/** A new Ed25519 door key pair: the public key as 32 raw bytes (base64url), the private key as PKCS#8 DER (base64url). */
export function newDoorKey(): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    publicKey: spki.subarray(spki.length - 32).toString('base64url'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
  };
}

/** The ticket's QR for the rotation containing `nowMs`, signed with the event's door key; and when it expires. */
export function issueQr(privateKey: string, ticket: Omit<QrClaims, 'windowStart'>, nowMs: number): { qr: string; expiresAt: Date } {
  const windowStart = windowStartAt(nowMs);
  const payload = encodeQrPayload({ ...ticket, windowStart });
  const key = createPrivateKey({ key: Buffer.from(privateKey, 'base64url'), format: 'der', type: 'pkcs8' });
  const signature = sign(null, payload, key);
  return { qr: Buffer.concat([payload, signature]).toString('base64url'), expiresAt: new Date((windowStart + QR_WINDOW_SECONDS) * 1000) };
}
