import { describe, expect, it } from 'vitest';
import {
  bearerToken,
  createTokenVerifier,
  generateSigningKeys,
  isSelfOrAdmin,
  requireAuth,
  requireRole,
  requireSelfOrAdmin,
  type Principal,
} from '@vibestream/platform';
import { mintToken } from '@vibestream/testkit';

const fan: Principal = { userId: 'u1', roles: ['FAN'], sessionId: 's1', expiresAt: Date.now() / 1000 + 60 };
const admin: Principal = { userId: 'u2', roles: ['ADMIN'], sessionId: 's2', expiresAt: Date.now() / 1000 + 60 };
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { extensions?: { code?: string } }).extensions?.code;
  }
  return undefined;
};

describe('auth guards', () => {
  it('parses bearer headers', () => {
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer   xyz ')).toBe('xyz');
    expect(codeOf(() => bearerToken('Basic dXNlcg=='))).toBe('UNAUTHENTICATED');
  });

  it('requires authentication, roles, and ownership', () => {
    expect(codeOf(() => requireAuth(null))).toBe('UNAUTHENTICATED');
    expect(requireAuth(fan)).toBe(fan);
    expect(codeOf(() => requireRole(fan, 'ADMIN'))).toBe('FORBIDDEN');
    expect(codeOf(() => requireRole(null, 'ADMIN'))).toBe('UNAUTHENTICATED');
    expect(requireRole(fan, 'FAN', 'ARTIST')).toBe(fan);
    expect(codeOf(() => requireSelfOrAdmin(fan, 'u9'))).toBe('FORBIDDEN');
    expect(requireSelfOrAdmin(fan, 'u1')).toBe(fan);
    expect(requireSelfOrAdmin(admin, 'u1')).toBe(admin);
    expect(isSelfOrAdmin(null, 'u1')).toBe(false);
  });
});

describe('token verifier', () => {
  it('verifies typed claims and rejects other keys, expiry, issuer and audience', async () => {
    const keys = generateSigningKeys();
    const verify = await createTokenVerifier({ publicKeyPem: keys.publicKeyPem, issuer: 'vibestream-identity', audience: 'vibestream' });
    const principal = await verify(await mintToken(keys, { userId: 'u1', roles: ['ARTIST'], sessionId: 'fam' }));
    expect(principal).toMatchObject({ userId: 'u1', roles: ['ARTIST'], sessionId: 'fam' });
    for (const token of [
      await mintToken(generateSigningKeys()),
      await mintToken(keys, { expiresIn: -5 }),
      await mintToken(keys, { issuer: 'evil' }),
      await mintToken(keys, { audience: 'other' }),
    ]) {
      await expect(verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
  });
});
