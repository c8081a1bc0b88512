// Passkeys' pure rules: challenge use and expiry, the signature counter (a property test over the
// whole space of counters), names, origins, decoy credential ids.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_PASSKEY_NAME,
  MAX_PASSKEY_NAME_LENGTH,
  challengeOfClientData,
  challengeVerdict,
  counterVerdict,
  decoyCredentialIds,
  isAllowedOrigin,
  normalizePasskeyName,
  originsOutsideRpId,
  type ChallengeState,
} from '../src/domain/passkeys.ts';

const now = new Date('2026-12-07T10:00:00Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const user = '0b4a4b52-61a6-4f7e-9d44-0f4a3f0f0a01';
const other = '0b4a4b52-61a6-4f7e-9d44-0f4a3f0f0a02';

describe('challengeVerdict', () => {
  const live: ChallengeState = { purpose: 'registration', userId: user, expiresAt: later(300), usedAt: null };

  it('a live challenge issued to the user is usable once', () => {
    expect(challengeVerdict(live, 'registration', user, now)).toBe('usable');
    expect(challengeVerdict({ ...live, usedAt: now }, 'registration', user, now)).toBe('used');
  });

  it('expires at its expiry, not a millisecond later', () => {
    expect(challengeVerdict(live, 'registration', user, later(299.999))).toBe('usable');
    expect(challengeVerdict(live, 'registration', user, later(300))).toBe('expired');
  });

  it('a registration challenge is bound to its user; a sign-in challenge to nobody signed in', () => {
    expect(challengeVerdict(live, 'registration', other, now)).toBe('wrong-user');
    expect(challengeVerdict(live, 'registration', null, now)).toBe('wrong-user');
    const signIn: ChallengeState = { purpose: 'authentication', userId: null, expiresAt: later(300), usedAt: null };
    expect(challengeVerdict(signIn, 'authentication', null, now)).toBe('usable');
  });

  it('refuses a challenge of the other ceremony, and an unknown one', () => {
    expect(challengeVerdict(live, 'authentication', user, now)).toBe('wrong-purpose');
    expect(challengeVerdict(undefined, 'registration', user, now)).toBe('unknown');
  });

  it('property: usable exactly when unused, unexpired, of the purpose and (registration) of the user', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('registration' as const, 'authentication' as const),
        fc.constantFrom('registration' as const, 'authentication' as const),
        fc.option(fc.constantFrom(user, other), { nil: null }),
        fc.option(fc.constantFrom(user, other), { nil: null }),
        fc.integer({ min: -600_000, max: 600_000 }),
        fc.boolean(),
        (issuedFor, askedFor, owner, caller, expiresInMs, used) => {
          const state: ChallengeState = { purpose: issuedFor, userId: owner, expiresAt: new Date(now.getTime() + expiresInMs), usedAt: used ? now : null };
          const usable = challengeVerdict(state, askedFor, caller, now) === 'usable';
          const expected = issuedFor === askedFor && !used && expiresInMs > 0 && (askedFor === 'authentication' || owner === caller);
          expect(usable).toBe(expected);
        },
      ),
    );
  });
});

describe('counterVerdict (WebAuthn signature counter)', () => {
  it('both zero: an authenticator without a counter (synced passkeys)', () => {
    expect(counterVerdict(0, 0)).toBe('ok');
  });

  it('must increase once either side is non-zero', () => {
    expect(counterVerdict(0, 1)).toBe('ok');
    expect(counterVerdict(5, 6)).toBe('ok');
    expect(counterVerdict(5, 5)).toBe('possible-clone');
    expect(counterVerdict(5, 4)).toBe('possible-clone');
    expect(counterVerdict(5, 0)).toBe('possible-clone');
  });

  it('property: ok exactly when both are zero or the presented counter is greater', () => {
    const counter = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));
    fc.assert(
      fc.property(counter, counter, (stored, presented) => {
        const ok = counterVerdict(stored, presented) === 'ok';
        expect(ok).toBe((stored === 0 && presented === 0) || presented > stored);
        // Never both ways: a counter accepted after `stored` is never accepted again after itself.
        if (ok && presented !== 0) expect(counterVerdict(presented, presented)).toBe('possible-clone');
      }),
    );
  });

  it('property: a run of accepted counters is strictly increasing (a replayed or cloned one is refused)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 30 }), (presented) => {
        let stored = 0;
        const accepted: number[] = [];
        for (const value of presented) {
          if (counterVerdict(stored, value) === 'ok') {
            accepted.push(value);
            stored = value;
          }
        }
        for (let i = 1; i < accepted.length; i++) expect(accepted[i]!).toBeGreaterThan(accepted[i - 1]!);
      }),
    );
  });
});

describe('normalizePasskeyName', () => {
  it('trims, collapses whitespace and control characters, defaults when empty', () => {
    expect(normalizePasskeyName('  My  phone \n')).toBe('My phone');
    expect(normalizePasskeyName('a\u0000b\tc')).toBe('a b c');
    expect(normalizePasskeyName('')).toBe(DEFAULT_PASSKEY_NAME);
    expect(normalizePasskeyName('   ')).toBe(DEFAULT_PASSKEY_NAME);
    expect(normalizePasskeyName(null)).toBe(DEFAULT_PASSKEY_NAME);
    expect(normalizePasskeyName(undefined)).toBe(DEFAULT_PASSKEY_NAME);
  });

  it('cuts to 64 characters by code point, never half an emoji', () => {
    expect(normalizePasskeyName('x'.repeat(500))).toBe('x'.repeat(MAX_PASSKEY_NAME_LENGTH));
    const emoji = '🔑'.repeat(100);
    const cut = normalizePasskeyName(emoji);
    expect([...cut]).toHaveLength(MAX_PASSKEY_NAME_LENGTH);
    expect(cut).toBe('🔑'.repeat(MAX_PASSKEY_NAME_LENGTH));
  });

  it('property: always 1 to 64 code points, no control characters, no outer whitespace, and stable', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'binary', maxLength: 300 }), { nil: undefined }), (raw) => {
        const name = normalizePasskeyName(raw);
        expect([...name].length).toBeGreaterThanOrEqual(1);
        expect([...name].length).toBeLessThanOrEqual(MAX_PASSKEY_NAME_LENGTH);
        // eslint-disable-next-line no-control-regex
        expect(name).not.toMatch(/[\u0000-\u001f\u007f]/);
        expect(name).toBe(name.trim());
        expect(normalizePasskeyName(name)).toBe(name);
      }),
    );
  });
});

describe('isAllowedOrigin', () => {
  const production = { origins: ['https://vibestream.example'], allowLoopback: false };
  const development = { origins: ['https://vibestream.example'], allowLoopback: true };

  it('accepts the configured origins exactly', () => {
    expect(isAllowedOrigin('https://vibestream.example', production)).toBe(true);
    expect(isAllowedOrigin('https://vibestream.example:8443', production)).toBe(false);
    expect(isAllowedOrigin('http://vibestream.example', production)).toBe(false);
    expect(isAllowedOrigin('https://evil.vibestream.example', production)).toBe(false);
    expect(isAllowedOrigin('https://vibestream.example.evil.com', production)).toBe(false);
    expect(isAllowedOrigin(undefined, production)).toBe(false);
    expect(isAllowedOrigin(42, production)).toBe(false);
  });

  it('loopback on any port only outside production', () => {
    for (const origin of ['http://localhost:5173', 'http://localhost', 'http://127.0.0.1:4000', 'http://[::1]:4000']) {
      expect(isAllowedOrigin(origin, development), origin).toBe(true);
      expect(isAllowedOrigin(origin, production), origin).toBe(false);
    }
    for (const origin of ['http://localhost.evil.com', 'http://localhost:80/x', 'http://127.0.0.2:4000', 'https://localhost@evil.com']) {
      expect(isAllowedOrigin(origin, development), origin).toBe(false);
    }
  });
});

describe('decoyCredentialIds', () => {
  it('are stable per email and secret, differ between emails and secrets, and look like credential ids', () => {
    const a = decoyCredentialIds('secret', 'ada@example.com');
    expect(decoyCredentialIds('secret', 'ada@example.com')).toEqual(a);
    expect(decoyCredentialIds('secret', 'bob@example.com')).not.toEqual(a);
    expect(decoyCredentialIds('other secret', 'ada@example.com')).not.toEqual(a);
    expect(a[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('challengeOfClientData', () => {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('reads the challenge a client names, and nothing else', () => {
    expect(challengeOfClientData(encode({ type: 'webauthn.create', challenge: 'abcdefghijklmnopqrstuvwxyz012345' }))).toBe('abcdefghijklmnopqrstuvwxyz012345');
    expect(challengeOfClientData(encode({ challenge: 'short' }))).toBeNull();
    expect(challengeOfClientData(encode({ challenge: "'; drop table users; --xxxxxxxx" }))).toBeNull();
    expect(challengeOfClientData(encode({ challenge: 42 }))).toBeNull();
    expect(challengeOfClientData(encode(null))).toBeNull();
    expect(challengeOfClientData('not base64 json')).toBeNull();
  });
});

describe('originsOutsideRpId', () => {
  it('keeps origins whose host is the relying party id or under it', () => {
    expect(originsOutsideRpId('vibestream.example', ['https://vibestream.example', 'https://app.vibestream.example:8443'])).toEqual([]);
    expect(originsOutsideRpId('vibestream.example', ['https://evilvibestream.example', 'https://vibestream.example.evil.com', 'not a url'])).toEqual([
      'https://evilvibestream.example',
      'https://vibestream.example.evil.com',
      'not a url',
    ]);
    expect(originsOutsideRpId('localhost', ['http://localhost:4000'])).toEqual([]);
  });
});
