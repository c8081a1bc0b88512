import { describe, expect, it } from 'vitest';
import { Wallet as EthWallet, id } from 'ethers';
import { Keypair, PublicKey, SystemProgram } from '@solana/web3.js';
import nacl from 'tweetnacl';
import bs58 from 'bs58';
import {
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  checkRegistration,
  normalizeEmail,
  normalizeRoles,
  type RegistrationInput,
} from '../src/domain/registration.ts';
import { hashPassword, verifyPassword } from '../src/domain/password.ts';
import { decideRefresh, hashRefreshToken, newRefreshToken } from '../src/domain/tokens.ts';
import { apiKeyLookupPrefix, apiKeyMatches, hashApiKey, internalTokenMatches, newApiKey, normalizeApiKeyName } from '../src/domain/api-keys.ts';
import { challengeMessage, isValidWalletSignature, normalizeAddress, type ChallengeFields } from '../src/domain/wallet.ts';

/** The cheapest cost the service accepts (PASSWORD_SCRYPT_LOG2N >= 10), to keep the suite fast. */
const LOG2N = 10;

describe('registration', () => {
  const valid: RegistrationInput = { email: 'ada@example.com', password: 'a-long-password', displayName: 'Ada' };

  describe('normalizeEmail', () => {
    it('trims and lower-cases', () => {
      expect(normalizeEmail('  Ada.Lovelace@Example.COM \n')).toBe('ada.lovelace@example.com');
      expect(normalizeEmail('ada@example.com')).toBe('ada@example.com');
    });

    it('maps case variants of one address to one key', () => {
      expect(normalizeEmail('CASE@Example.com')).toBe(normalizeEmail('case@example.COM'));
    });
  });

  describe('checkRegistration', () => {
    it('accepts a valid input as a FAN by default, trimming email and displayName', () => {
      expect(checkRegistration({ ...valid, email: '  Ada@Example.com ', displayName: '  Ada  ' })).toEqual({
        ok: true,
        email: 'Ada@Example.com',
        emailNormalized: 'ada@example.com',
        displayName: 'Ada',
        role: 'FAN',
      });
      expect(checkRegistration({ ...valid, role: null })).toMatchObject({ ok: true, role: 'FAN' });
      expect(checkRegistration({ ...valid, role: 'FAN' })).toMatchObject({ ok: true, role: 'FAN' });
    });

    it('accepts ARTIST as a self-assigned role', () => {
      expect(checkRegistration({ ...valid, role: 'ARTIST' })).toMatchObject({ ok: true, role: 'ARTIST' });
    });

    it('refuses a self-assigned ADMIN role as forbidden, not as invalid input', () => {
      const result = checkRegistration({ ...valid, role: 'ADMIN' });
      expect(result).toMatchObject({ ok: false, reason: 'forbidden-role' });
    });

    it.each(['', 'not-an-email', 'ada@', '@example.com', 'ada example@example.com', 'ada@@example.com', `${'a'.repeat(250)}@example.com`])(
      'refuses the malformed email %j',
      (email) => {
        expect(checkRegistration({ ...valid, email })).toMatchObject({ ok: false, reason: 'invalid', field: 'email' });
      },
    );

    it('enforces the password length bounds', () => {
      expect(MIN_PASSWORD_LENGTH).toBe(10);
      expect(checkRegistration({ ...valid, password: '' })).toMatchObject({ ok: false, reason: 'invalid', field: 'password' });
      expect(checkRegistration({ ...valid, password: 'x'.repeat(9) })).toMatchObject({ ok: false, reason: 'invalid', field: 'password' });
      expect(checkRegistration({ ...valid, password: 'x'.repeat(10) })).toMatchObject({ ok: true });
      expect(checkRegistration({ ...valid, password: 'x'.repeat(MAX_PASSWORD_LENGTH) })).toMatchObject({ ok: true });
      expect(checkRegistration({ ...valid, password: 'x'.repeat(MAX_PASSWORD_LENGTH + 1) })).toMatchObject({
        ok: false,
        reason: 'invalid',
        field: 'password',
      });
    });

    it('does not trim the password', () => {
      // Nine characters surrounded by spaces are eleven characters of password.
      expect(checkRegistration({ ...valid, password: ' 123456789 ' })).toMatchObject({ ok: true });
    });

    it('refuses an empty or blank displayName, and an overly long one', () => {
      for (const displayName of ['', '   ', '\t\n']) {
        expect(checkRegistration({ ...valid, displayName })).toMatchObject({ ok: false, reason: 'invalid', field: 'displayName' });
      }
      expect(checkRegistration({ ...valid, displayName: 'x'.repeat(100) })).toMatchObject({ ok: true });
      expect(checkRegistration({ ...valid, displayName: 'x'.repeat(101) })).toMatchObject({ ok: false, reason: 'invalid', field: 'displayName' });
    });

    it('gives every refusal a message', () => {
      for (const input of [
        { ...valid, email: 'nope' },
        { ...valid, password: 'short' },
        { ...valid, displayName: ' ' },
        { ...valid, role: 'ADMIN' as const },
      ]) {
        const result = checkRegistration(input);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
      }
    });
  });

  describe('normalizeRoles', () => {
    it('returns the known roles in a canonical order without duplicates', () => {
      expect(normalizeRoles(['FAN'])).toEqual(['FAN']);
      expect(normalizeRoles(['ADMIN', 'FAN'])).toEqual(['FAN', 'ADMIN']);
      expect(normalizeRoles(['ARTIST', 'ADMIN', 'FAN', 'ARTIST'])).toEqual(['FAN', 'ARTIST', 'ADMIN']);
      expect(normalizeRoles(['ADMIN', 'ADMIN'])).toEqual(['ADMIN']);
    });

    it('refuses an empty set and unknown roles', () => {
      expect(normalizeRoles([])).toBeNull();
      expect(normalizeRoles(['ROOT'])).toBeNull();
      expect(normalizeRoles(['FAN', 'fan'])).toBeNull();
      expect(normalizeRoles(['FAN', ''])).toBeNull();
    });
  });
});

describe('password', () => {
  it('verifies the password it hashed, and nothing else', async () => {
    const stored = await hashPassword('correct horse battery', LOG2N);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(await verifyPassword('correct horse battery ', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('is salted: one password hashes differently each time, and both verify', async () => {
    const a = await hashPassword('same password', LOG2N);
    const b = await hashPassword('same password', LOG2N);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same password', b)).toBe(true);
  });

  it('is self-describing: scheme, cost parameters, salt and hash', async () => {
    const stored = await hashPassword('a-long-password', LOG2N);
    const parts = stored.split('$');
    expect(parts).toHaveLength(6);
    const [scheme, log2N, r, p, salt, hash] = parts as [string, string, string, string, string, string];
    expect(scheme).toBe('scrypt');
    expect(Number(log2N)).toBe(LOG2N);
    expect(Number(r)).toBeGreaterThan(0);
    expect(Number(p)).toBeGreaterThan(0);
    expect(salt).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(salt, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(hash).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(hash, 'base64url').length).toBeGreaterThanOrEqual(32);
    expect(stored).not.toContain('a-long-password');
    // The cost travels with the hash: a hash made at another cost still verifies.
    const costlier = await hashPassword('a-long-password', LOG2N + 1);
    expect(costlier.split('$')[1]).toBe(String(LOG2N + 1));
    expect(await verifyPassword('a-long-password', costlier)).toBe(true);
  });

  it('refuses a tampered or malformed stored hash', async () => {
    const stored = await hashPassword('a-long-password', LOG2N);
    const [scheme, log2N, r, p, salt, hash] = stored.split('$') as [string, string, string, string, string, string];
    const flipFirst = (s: string) => `${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    const tampered = [
      [scheme, log2N, r, p, salt, flipFirst(hash)], // hash bytes
      [scheme, log2N, r, p, flipFirst(salt), hash], // salt
      [scheme, String(Number(log2N) + 1), r, p, salt, hash], // cost
      [scheme, log2N, r, p, salt, hash.slice(0, -6)], // truncated hash
      ['argon2id', log2N, r, p, salt, hash], // unknown scheme
      [scheme, log2N, r, p, salt, ''], // missing hash
      [scheme, log2N, r, p, '', hash], // missing salt
      [scheme, log2N, r, p, salt], // missing field
    ].map((fields) => fields.join('$'));
    for (const bad of [...tampered, '', 'plaintext', 'a-long-password']) {
      expect(await verifyPassword('a-long-password', bad), bad).toBe(false);
    }
  });

  it('compares Unicode passwords in NFKC form', async () => {
    const stored = await hashPassword('ﬁnal password', LOG2N); // U+FB01 LATIN SMALL LIGATURE FI
    expect(await verifyPassword('final password', stored)).toBe(true);
    expect(await verifyPassword('ﬁnal password', stored)).toBe(true);
    expect(await verifyPassword('final passwort', stored)).toBe(false);
  });
});

describe('refresh tokens', () => {
  const now = new Date('2026-01-01T12:00:00.000Z');
  const later = new Date(now.getTime() + 86_400_000);
  const earlier = new Date(now.getTime() - 1000);

  it('decides rotate for a live, unused, unrevoked token', () => {
    expect(decideRefresh({ usedAt: null, revokedAt: null, expiresAt: later }, now)).toBe('rotate');
    expect(decideRefresh({ usedAt: undefined, revokedAt: undefined, expiresAt: later }, now)).toBe('rotate');
  });

  it('decides unknown for a token that is not stored', () => {
    expect(decideRefresh(null, now)).toBe('unknown');
  });

  it('decides expired at and after the expiry', () => {
    expect(decideRefresh({ usedAt: null, revokedAt: null, expiresAt: earlier }, now)).toBe('expired');
    expect(decideRefresh({ usedAt: null, revokedAt: null, expiresAt: now }, now)).toBe('expired');
  });

  it('decides reused for a token that was already rotated, expired or not', () => {
    expect(decideRefresh({ usedAt: earlier, revokedAt: null, expiresAt: later }, now)).toBe('reused');
    expect(decideRefresh({ usedAt: earlier, revokedAt: null, expiresAt: earlier }, now)).toBe('reused');
  });

  it('decides revoked for a revoked token, whatever else holds', () => {
    expect(decideRefresh({ usedAt: null, revokedAt: earlier, expiresAt: later }, now)).toBe('revoked');
    expect(decideRefresh({ usedAt: earlier, revokedAt: earlier, expiresAt: later }, now)).toBe('revoked');
    expect(decideRefresh({ usedAt: null, revokedAt: earlier, expiresAt: earlier }, now)).toBe('revoked');
  });

  it('new tokens are 256 random bits; only a deterministic hash is stored', () => {
    const a = newRefreshToken();
    const b = newRefreshToken();
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(hashRefreshToken(a)).toBe(hashRefreshToken(a));
    expect(hashRefreshToken(a)).not.toBe(hashRefreshToken(b));
    expect(hashRefreshToken(a)).not.toContain(a);
  });
});

describe('wallet', () => {
  describe('normalizeAddress (Ethereum)', () => {
    const eth = EthWallet.createRandom().address;

    it('keeps a checksummed address and checksums lowercase or uppercase-hex input', () => {
      expect(normalizeAddress('ETHEREUM', eth)).toBe(eth);
      expect(normalizeAddress('ETHEREUM', eth.toLowerCase())).toBe(eth);
      expect(normalizeAddress('ETHEREUM', `0x${eth.slice(2).toUpperCase()}`)).toBe(eth);
      expect(normalizeAddress('ETHEREUM', `  ${eth}\n`)).toBe(eth);
      // A well-known vector from EIP-55.
      expect(normalizeAddress('ETHEREUM', '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed')).toBe('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed');
    });

    it('refuses malformed addresses and a wrong EIP-55 checksum', () => {
      const wrongChecksum = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD';
      for (const bad of [
        '',
        'not-an-address',
        '0x',
        '0x1234',
        `${eth}00`,
        eth.slice(0, -1),
        `0x${'g'.repeat(40)}`,
        wrongChecksum,
        Keypair.generate().publicKey.toBase58(),
      ]) {
        expect(normalizeAddress('ETHEREUM', bad), bad).toBeNull();
      }
    });
  });

  describe('normalizeAddress (Solana)', () => {
    it('keeps a base58 ed25519 public key', () => {
      const key = Keypair.generate().publicKey.toBase58();
      expect(normalizeAddress('SOLANA', key)).toBe(key);
      expect(normalizeAddress('SOLANA', ` ${key} `)).toBe(key);
    });

    it('refuses non-base58 text, wrong lengths, non-canonical text and off-curve keys', () => {
      const key = Keypair.generate().publicKey;
      const [offCurve] = PublicKey.findProgramAddressSync([Buffer.from('vibestream')], SystemProgram.programId);
      expect(PublicKey.isOnCurve(offCurve.toBytes())).toBe(false);
      const bad = [
        '',
        'not base58',
        '0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl', // characters outside the base58 alphabet
        EthWallet.createRandom().address,
        bs58.encode(new Uint8Array(33).fill(7)), // 33 bytes
        bs58.encode(key.toBytes().slice(0, 31)), // 31 bytes
        `1${key.toBase58()}`, // a leading zero byte: not the key's canonical text
        offCurve.toBase58(),
      ];
      for (const address of bad) expect(normalizeAddress('SOLANA', address), address).toBeNull();
    });
  });

  describe('challengeMessage', () => {
    const fields: ChallengeFields = {
      chain: 'ETHEREUM',
      address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
      domain: 'vibestream.example',
      uri: 'https://vibestream.example',
      nonce: '0123456789abcdef01234567',
      issuedAt: new Date('2026-03-01T10:00:00.000Z'),
      expiresAt: new Date('2026-03-01T10:05:00.000Z'),
    };

    it('is an EIP-4361 style message naming domain, address, chain, nonce and expiry', () => {
      const lines = challengeMessage(fields).split('\n');
      expect(lines[0]).toBe('vibestream.example wants you to sign in with your Ethereum account:');
      expect(lines[1]).toBe(fields.address);
      expect(lines).toContain('URI: https://vibestream.example');
      expect(lines).toContain('Version: 1');
      expect(lines).toContain('Chain ID: 1');
      expect(lines).toContain('Nonce: 0123456789abcdef01234567');
      expect(lines).toContain('Issued At: 2026-03-01T10:00:00.000Z');
      expect(lines).toContain('Expiration Time: 2026-03-01T10:05:00.000Z');
    });

    it('names the Solana chain for a Solana wallet', () => {
      const address = Keypair.generate().publicKey.toBase58();
      const message = challengeMessage({ ...fields, chain: 'SOLANA', address });
      expect(message.split('\n')[0]).toBe('vibestream.example wants you to sign in with your Solana account:');
      expect(message.split('\n')[1]).toBe(address);
      expect(message).toMatch(/^Chain ID: solana:mainnet$/m);
      expect(message).not.toMatch(/^Chain ID: 1$/m);
    });

    it('differs for every nonce, address and chain', () => {
      const base = challengeMessage(fields);
      expect(challengeMessage({ ...fields, nonce: 'ffffffffffffffffffffffff' })).not.toBe(base);
      expect(challengeMessage({ ...fields, address: EthWallet.createRandom().address })).not.toBe(base);
      expect(challengeMessage({ ...fields, chain: 'SOLANA' })).not.toBe(base);
    });
  });

  describe('isValidWalletSignature', () => {
    const message = challengeMessage({
      chain: 'ETHEREUM',
      address: '0x0000000000000000000000000000000000000000',
      domain: 'vibestream.example',
      uri: 'https://vibestream.example',
      nonce: 'abcdef',
      issuedAt: new Date(),
      expiresAt: new Date(Date.now() + 300_000),
    });

    it('accepts an EIP-191 signature by the address, and refuses others (Ethereum)', async () => {
      const wallet = EthWallet.createRandom();
      const other = EthWallet.createRandom();
      const signature = await wallet.signMessage(message);
      expect(isValidWalletSignature('ETHEREUM', wallet.address, message, signature)).toBe(true);
      expect(isValidWalletSignature('ETHEREUM', wallet.address, message, ` ${signature} `)).toBe(true);

      expect(isValidWalletSignature('ETHEREUM', wallet.address, message, await other.signMessage(message))).toBe(false);
      expect(isValidWalletSignature('ETHEREUM', other.address, message, signature)).toBe(false);
      expect(isValidWalletSignature('ETHEREUM', wallet.address, `${message}.`, signature)).toBe(false);
      // A raw signature of keccak256(message), without EIP-191's prefix, is not a personal_sign signature.
      const raw = wallet.signingKey.sign(id(message)).serialized;
      expect(isValidWalletSignature('ETHEREUM', wallet.address, message, raw)).toBe(false);
      // (Dropping only the v byte leaves a 64-byte EIP-2098 compact signature, which is a valid encoding.)
      for (const garbage of ['', 'garbage', '0x', '0xdeadbeef', `0x${'00'.repeat(65)}`, signature.slice(0, -4)]) {
        expect(isValidWalletSignature('ETHEREUM', wallet.address, message, garbage), garbage).toBe(false);
      }
    });

    it('accepts a base58 ed25519 signature of the message bytes by the key, and refuses others (Solana)', () => {
      const keypair = Keypair.generate();
      const other = Keypair.generate();
      const address = keypair.publicKey.toBase58();
      const bytes = new TextEncoder().encode(message);
      const signature = bs58.encode(nacl.sign.detached(bytes, keypair.secretKey));
      expect(isValidWalletSignature('SOLANA', address, message, signature)).toBe(true);

      expect(isValidWalletSignature('SOLANA', address, message, bs58.encode(nacl.sign.detached(bytes, other.secretKey)))).toBe(false);
      expect(isValidWalletSignature('SOLANA', other.publicKey.toBase58(), message, signature)).toBe(false);
      expect(isValidWalletSignature('SOLANA', address, `${message}.`, signature)).toBe(false);
      const flipped = bs58.decode(signature);
      flipped[10] = flipped[10]! ^ 0x01;
      expect(isValidWalletSignature('SOLANA', address, message, bs58.encode(flipped))).toBe(false);
      // The full signed message (signature + message) is not a detached signature.
      expect(isValidWalletSignature('SOLANA', address, message, bs58.encode(nacl.sign(bytes, keypair.secretKey)))).toBe(false);
      for (const garbage of [
        '',
        'garbage-0OIl',
        bs58.encode(new Uint8Array(63)),
        bs58.encode(new Uint8Array(64)),
        Buffer.from(bs58.decode(signature)).toString('hex'),
      ]) {
        expect(isValidWalletSignature('SOLANA', address, message, garbage), garbage).toBe(false);
      }
      expect(isValidWalletSignature('SOLANA', 'not-a-key', message, signature)).toBe(false);
    });

    it('does not accept one chain’s signature for the other', async () => {
      const wallet = EthWallet.createRandom();
      const keypair = Keypair.generate();
      const ethSignature = await wallet.signMessage(message);
      const solSignature = bs58.encode(nacl.sign.detached(new TextEncoder().encode(message), keypair.secretKey));
      expect(isValidWalletSignature('SOLANA', keypair.publicKey.toBase58(), message, ethSignature)).toBe(false);
      expect(isValidWalletSignature('ETHEREUM', wallet.address, message, solSignature)).toBe(false);
    });
  });
});

describe('API keys', () => {
  it('are vsk_ and 32 random bytes, stored as a SHA-256 with a lookup prefix', () => {
    const a = newApiKey();
    const b = newApiKey();
    expect(a.key).toMatch(/^vsk_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.key.slice(4), 'base64url')).toHaveLength(32);
    expect(a.key).not.toBe(b.key);
    expect(a.prefix).toBe(a.key.slice(0, 12));
    expect(a.hash).toBe(hashApiKey(a.key));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).not.toContain(a.key.slice(4));
  });

  it('match only the exact key', () => {
    const { key, hash } = newApiKey();
    expect(apiKeyMatches(key, hash)).toBe(true);
    expect(apiKeyMatches(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'), hash)).toBe(false);
    expect(apiKeyMatches(key, 'not-hex')).toBe(false);
  });

  it('reject what cannot be a key before any lookup', () => {
    const { key, prefix } = newApiKey();
    expect(apiKeyLookupPrefix(key)).toBe(prefix);
    for (const bad of ['', 'vsk_', key + 'x', key.replace('vsk_', 'xyz_'), key.slice(0, -1) + '!']) expect(apiKeyLookupPrefix(bad)).toBeNull();
  });

  it('names are trimmed, 1 to 100 characters', () => {
    expect(normalizeApiKeyName('  Partner  ')).toBe('Partner');
    expect(normalizeApiKeyName('   ')).toBeNull();
    expect(normalizeApiKeyName('x'.repeat(101))).toBeNull();
    expect(normalizeApiKeyName('x'.repeat(100))).toHaveLength(100);
  });

  it('the internal token compares exactly', () => {
    expect(internalTokenMatches('s'.repeat(40), 's'.repeat(40))).toBe(true);
    expect(internalTokenMatches('s'.repeat(39), 's'.repeat(40))).toBe(false);
    expect(internalTokenMatches(undefined, 's'.repeat(40))).toBe(false);
  });
});
