// The app's pure pieces, in Node: money and token formatting, error placement, voucher secrets.
import { describe, expect, it } from 'vitest';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { poseidon2 } from '@vibestream/circuits';
import { errorCodeOf, formErrors } from '../src/errors.ts';
import { formatCents, formatTokens, parseDollars } from '../src/format.ts';
import { newVoucherSecrets, recipientField } from '../src/rewards/secrets.ts';

const graphQLError = (code: string, message: string, extensions: Record<string, unknown> = {}) =>
  new CombinedGraphQLErrors({ data: null, errors: [{ message, extensions: { code, ...extensions } }] });

describe('amounts', () => {
  it('shows cents as dollars and reads what people type', () => {
    expect(formatCents(150)).toBe('$1.50');
    expect(formatCents(null)).toBe('—');
    expect(parseDollars('1.5')).toBe(150);
    expect(parseDollars(' $2.05 ')).toBe(205);
    expect(parseDollars('12')).toBe(1200);
    expect(parseDollars('1.234')).toBeNaN();
    expect(parseDollars('-1')).toBeNaN();
    expect(parseDollars('abc')).toBeNaN();
  });

  it('shows token base units (18 decimals) as reward tokens', () => {
    expect(formatTokens('5000000000000000000')).toBe('5 reward tokens');
    expect(formatTokens('1000000000000000000')).toBe('1 reward token');
    expect(formatTokens('10000000000000000')).toBe('0.01 reward tokens');
    expect(formatTokens('0')).toBe('0 reward tokens');
  });
});

describe('errors from the graph, placed for people', () => {
  it('puts BAD_USER_INPUT next to the field it names (input. prefix dropped), with the server’s words', () => {
    const placed = formErrors(graphQLError('BAD_USER_INPUT', 'title must not be empty', { field: 'input.title' }));
    expect(placed).toEqual({ fields: { title: 'title must not be empty' }, form: null });
  });

  it('places other codes where the form says, in its words, and the rest on the form', () => {
    const funds = formErrors(graphQLError('INSUFFICIENT_FUNDS', 'available 100 < 200'), {
      fieldFor: { INSUFFICIENT_FUNDS: 'quantity' },
      messageFor: { INSUFFICIENT_FUNDS: 'You do not have enough available cash for this order.' },
    });
    expect(funds).toEqual({ fields: { quantity: 'You do not have enough available cash for this order.' }, form: null });
    expect(formErrors(graphQLError('FORBIDDEN', 'nope')).form).toBe('Your account is not allowed to do this.');
    expect(formErrors(graphQLError('RATE_LIMITED', 'slow down', { retryAfterSeconds: 7 })).form).toBe('Too many attempts. Try again in 7 s.');
  });

  it('never shows an internal message, and says so when the server cannot be reached', () => {
    expect(formErrors(graphQLError('INTERNAL_SERVER_ERROR', 'relation "x" does not exist')).form).toBe('Something went wrong on our side. Please try again.');
    expect(formErrors(new TypeError('Failed to fetch')).form).toMatch(/could not reach VibeStream/);
    expect(errorCodeOf(graphQLError('CONFLICT', 'taken'))).toBe('CONFLICT');
    expect(errorCodeOf(new Error('x'))).toBeUndefined();
  });
});

describe('voucher secrets', () => {
  it('commit with the circuit’s Poseidon, from fresh random field elements', () => {
    const a = newVoucherSecrets();
    const b = newVoucherSecrets();
    expect(a.commitment).toBe(poseidon2(BigInt(a.nullifier), BigInt(a.secret)).toString());
    expect(a.nullifier).not.toBe(b.nullifier);
    expect(BigInt(a.secret) < 2n ** 248n).toBe(true);
  });

  it('takes an Ethereum address as the recipient field element', () => {
    expect(recipientField('0x00000000000000000000000000000000000000ff')).toBe('255');
    expect(recipientField('0x1234')).toBeNull();
  });
});
