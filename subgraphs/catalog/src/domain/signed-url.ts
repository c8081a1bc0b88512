import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 signatures for media URLs: `purpose` keeps an upload signature from opening a stream. */
export function signMedia(secret: string, purpose: 'upload' | 'stream', id: string, expiresAtSeconds: number): string {
  return createHmac('sha256', secret).update(`${purpose}\n${id}\n${expiresAtSeconds}`).digest('base64url');
}

export type SignatureCheck = 'valid' | 'expired' | 'invalid';

export function checkMediaSignature(
  secret: string,
  purpose: 'upload' | 'stream',
  id: string,
  expiresParam: string | null,
  signature: string | null,
  nowSeconds: number,
): SignatureCheck {
  if (!expiresParam || !signature || !/^\d{1,12}$/.test(expiresParam)) return 'invalid';
  const expected = Buffer.from(signMedia(secret, purpose, id, Number(expiresParam)));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
  return Number(expiresParam) <= nowSeconds ? 'expired' : 'valid';
}
