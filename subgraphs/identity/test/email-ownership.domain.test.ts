// The pure rules of email ownership and recovery: the tokens the links carry, their expiry and
// purposes, the links, new passwords, and what the mails say.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EMAIL_TOKEN_LENGTH,
  EMAIL_TOKEN_PURPOSES,
  RESETTING_PURPOSES,
  VERIFYING_PURPOSES,
  canConsume,
  checkNewPassword,
  emailLink,
  emailTokenExpiry,
  hashEmailToken,
  isWellFormedEmailToken,
  newEmailToken,
} from '../src/domain/email-tokens.ts';
import { duration, identityMailContent, renderIdentityMail } from '../src/email-mails.ts';

describe('email tokens', () => {
  it('are 32 random bytes in base64url: 43 characters, well formed, never repeated', () => {
    const tokens = Array.from({ length: 2000 }, newEmailToken);
    for (const token of tokens) {
      expect(token).toHaveLength(EMAIL_TOKEN_LENGTH);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(isWellFormedEmailToken(token)).toBe(true);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('are stored as their SHA-256 (hex), which differs from the token and is deterministic', () => {
    const token = newEmailToken();
    expect(hashEmailToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashEmailToken(token)).toBe(hashEmailToken(token));
    expect(hashEmailToken(token)).not.toContain(token);
    // A known vector: sha256("abc").
    expect(hashEmailToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('distinct tokens hash apart (property)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => a === b || hashEmailToken(a) !== hashEmailToken(b)));
  });

  it('anything but 43 base64url characters is malformed (property), so it never reaches the database', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const expected = s.length === 43 && /^[A-Za-z0-9_-]+$/.test(s);
        return isWellFormedEmailToken(s) === expected;
      }),
    );
    for (const bad of ['', ' '.repeat(43), `${newEmailToken()}=`, `${newEmailToken()}\n`, newEmailToken().slice(1) + '+', 'é'.repeat(43)]) {
      expect(isWellFormedEmailToken(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('canConsume: unused, unexpired, of an accepted purpose', () => {
  const purpose = fc.constantFrom(...EMAIL_TOKEN_PURPOSES);
  const instant = fc.integer({ min: 0, max: 4_000_000_000_000 });

  it('matches the rule for every state (property)', () => {
    fc.assert(
      fc.property(purpose, instant, instant, fc.option(instant, { nil: null }), fc.boolean(), (p, expires, now, used, verifying) => {
        const accepted = verifying ? VERIFYING_PURPOSES : RESETTING_PURPOSES;
        const state = { purpose: p, expiresAt: new Date(expires), usedAt: used === null ? null : new Date(used) };
        return canConsume(state, accepted, new Date(now)) === (used === null && expires > now && accepted.includes(p));
      }),
    );
  });

  it('a token is dead at its expiry instant, alive one millisecond before', () => {
    const issued = new Date('2026-12-07T10:00:00Z');
    const expiresAt = emailTokenExpiry(issued, 86_400);
    expect(expiresAt.toISOString()).toBe('2026-12-08T10:00:00.000Z');
    const state = { purpose: 'verify_email' as const, expiresAt, usedAt: null };
    expect(canConsume(state, VERIFYING_PURPOSES, new Date(expiresAt.getTime() - 1))).toBe(true);
    expect(canConsume(state, VERIFYING_PURPOSES, expiresAt)).toBe(false);
  });

  it('a used token, an unknown one, or one of another purpose is refused', () => {
    const now = new Date();
    const later = new Date(now.getTime() + 60_000);
    expect(canConsume(null, VERIFYING_PURPOSES, now)).toBe(false);
    expect(canConsume({ purpose: 'verify_email', expiresAt: later, usedAt: now }, VERIFYING_PURPOSES, now)).toBe(false);
    expect(canConsume({ purpose: 'verify_email', expiresAt: later, usedAt: null }, RESETTING_PURPOSES, now)).toBe(false);
    expect(canConsume({ purpose: 'reset_password', expiresAt: later, usedAt: null }, VERIFYING_PURPOSES, now)).toBe(false);
    expect(canConsume({ purpose: 'change_email', expiresAt: later, usedAt: null }, VERIFYING_PURPOSES, now)).toBe(true);
  });
});

describe('links', () => {
  it('point into the web app with the token as the only query parameter', () => {
    const token = newEmailToken();
    expect(emailLink('http://localhost:4000', 'verify-email', token)).toBe(`http://localhost:4000/verify-email?token=${token}`);
    expect(emailLink('https://vibestream.example/app/', 'reset-password', token)).toBe(`https://vibestream.example/app/reset-password?token=${token}`);
    expect(emailLink('https://vibestream.example/?x=1#frag', 'verify-email', token)).toBe(`https://vibestream.example/verify-email?token=${token}`);
  });

  it('carry the token back unchanged (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 100 }),
        (token) => new URL(emailLink('https://a.example', 'verify-email', token)).searchParams.get('token') === token,
      ),
    );
  });
});

describe('new passwords follow registration: 10 to 1024 characters', () => {
  it('(property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 1100 }), (password) => checkNewPassword(password).ok === (password.length >= 10 && password.length <= 1024)));
  });
});

describe('mails', () => {
  const token = newEmailToken();
  const link = `https://vibestream.example/verify-email?token=${token}`;

  it('name the reader, carry the link in HTML and text, and say how long it works', async () => {
    const mail = await renderIdentityMail({ template: 'verify-email', to: 'ada@example.com', displayName: 'Ada', link, expiresInSeconds: 86_400 });
    expect(mail.subject).toBe('Verify your email address');
    expect(mail.text).toContain('Hi Ada,');
    expect(mail.text).toContain(link);
    expect(mail.text).toContain('24 hours');
    expect(mail.html).toContain(link.replace(/&/g, '&amp;'));
    expect(mail.html).toContain('Ada');
  });

  it('escape what a user typed: a display name cannot inject markup', async () => {
    const mail = await renderIdentityMail({
      template: 'reset-password',
      to: 'x@example.com',
      displayName: '<img src=x onerror=alert(1)>',
      link,
      expiresInSeconds: 3600,
    });
    expect(mail.html).not.toContain('<img src=x');
    expect(mail.html).toContain('&lt;img');
  });

  it('the notice of a change goes to the old address, names the new one, and has no link to act on', () => {
    const { subject, content } = identityMailContent({ template: 'email-changed', to: 'old@example.com', displayName: 'Ada', newEmail: 'new@example.com' });
    expect(subject).toMatch(/changed/);
    expect(content.paragraphs.join(' ')).toContain('new@example.com');
    expect(content.action).toBeUndefined();
  });

  it('durations read naturally', () => {
    expect([duration(86_400), duration(3600), duration(1800), duration(60), duration(45), duration(1)]).toEqual([
      '24 hours',
      '1 hour',
      '30 minutes',
      '1 minute',
      '45 seconds',
      '1 second',
    ]);
  });
});
