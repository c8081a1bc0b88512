import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 signatures for media URLs: `purpose` keeps an upload signature from opening a stream. */
export function signMedia(secret: string, purpose: 'upload' | 'stream', id: string, expiresAtSeconds: number): string {
  return createHmac('sha256', secret).update(`${purpose}\n${id}\n${expiresAtSeconds}`).digest('base64url');
}

/**
 * The signed path of a media URL, relative to the gateway (`/media/<purpose>/<id>?exp=&sig=`): a
 * client resolves it against the address it reached the API at, so it works from any host name
 * (localhost, 127.0.0.1, a proxy's, the web client's development server) without PUBLIC_URL.
 */
export function signedMediaPath(secret: string, purpose: 'upload' | 'stream', id: string, expiresAtSeconds: number): string {
  const query = new URLSearchParams({ exp: String(expiresAtSeconds), sig: signMedia(secret, purpose, id, expiresAtSeconds) });
  return `/media/${purpose}/${encodeURIComponent(id)}?${query.toString()}`;
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
