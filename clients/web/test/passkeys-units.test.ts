// What a person reads when the browser's passkey ceremony does not complete: the WebAuthnError
// @simplewebauthn/browser throws (its name, or its code), each mapped to words to act on.
import { describe, expect, it } from 'vitest';
import { WebAuthnError } from '@simplewebauthn/browser';
import { passkeyProblem } from '../src/passkeys/webauthn.ts';

const webAuthnError = (name: string, code: string) =>
  new WebAuthnError({ message: name, code: code as ConstructorParameters<typeof WebAuthnError>[0]['code'], cause: new Error(name), name });

describe('passkeyProblem', () => {
  it('names each outcome of a ceremony that did not complete', () => {
    expect(passkeyProblem(webAuthnError('InvalidStateError', 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED'))).toBe(
      'This device already holds a passkey for your account.',
    );
    expect(passkeyProblem(webAuthnError('NotAllowedError', 'ERROR_PASSTHROUGH_SEE_CAUSE_PROPERTY'))).toBe('The passkey request was cancelled or timed out.');
    expect(passkeyProblem(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe('The passkey request was cancelled or timed out.');
    expect(passkeyProblem(webAuthnError('SecurityError', 'ERROR_INVALID_DOMAIN'))).toBe(
      'Passkeys are not available on this address (they need https or localhost).',
    );
    expect(passkeyProblem(webAuthnError('SecurityError', 'ERROR_INVALID_RP_ID'))).toBe(
      'Passkeys are not available on this address (they need https or localhost).',
    );
    expect(passkeyProblem(webAuthnError('NotSupportedError', 'ERROR_MALFORMED_PUBKEYCREDPARAMS'))).toBe('This browser or device cannot use passkeys here.');
  });

  it('falls back to a general message for anything else', () => {
    for (const error of [new Error('boom'), 'text', null, undefined, { code: 42 }]) {
      expect(passkeyProblem(error)).toBe('The passkey request did not complete. Please try again.');
    }
  });
});
