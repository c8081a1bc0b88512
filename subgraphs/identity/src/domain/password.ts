import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const keyLength = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password.normalize('NFKC'), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key))));
}

function scryptOptions(log2N: number, r: number, p: number): ScryptOptions {
  return { N: 2 ** log2N, r, p, maxmem: 2 ** log2N * r * 256 };
}

/**
 * A salted scrypt hash, self-describing so the cost can be raised later:
 * `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` (base64url).
 */
export async function hashPassword(password: string, log2N: number): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, scryptOptions(log2N, 8, 1));
  return ['scrypt', log2N, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, log2N, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !log2N || !r || !p || !salt || !hash) return false;
  const [cost, blockSize, parallelism] = [Number(log2N), Number(r), Number(p)];
  // A corrupt stored hash is a failed sign-in, never a server error.
  if (![cost, blockSize, parallelism].every((n) => Number.isInteger(n) && n >= 1) || cost > 22 || blockSize > 32 || parallelism > 16) return false;
  const expected = Buffer.from(hash, 'base64url');
  try {
    const actual = await derive(password, Buffer.from(salt, 'base64url'), scryptOptions(cost, blockSize, parallelism));
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  } catch {
    return false;
  }
}
