/** What a person reads when the browser's passkey ceremony did not complete (WebAuthnError names from @simplewebauthn/browser). */
export function passkeyProblem(error: unknown): string {
  const name = error instanceof Error ? error.name : '';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
  if (name === 'NotAllowedError' || name === 'AbortError') return 'The passkey request was cancelled or timed out.';
  if (name === 'SecurityError') return 'Passkeys are not available on this address (they need https or localhost).';
  if (name === 'NotSupportedError' || code === 'ERROR_INVALID_RP_ID') return 'This browser or device cannot use passkeys here.';
  return 'The passkey request did not complete. Please try again.';
}
