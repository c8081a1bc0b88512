import { useState } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import { startAuthentication, browserSupportsWebAuthn } from '@simplewebauthn/browser';
import { FinishPasskeySignInDocument, StartPasskeySignInDocument } from '../../../generated/graphql.ts';
import { saveSession } from '../auth/session.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { navigate } from '../router.tsx';
import { passkeyProblem } from './webauthn.ts';

/**
 * "Sign in with a passkey" on the sign-in page: the email typed above, if any, narrows the
 * passkeys offered; without it the device offers the passkeys it holds for this site. The
 * session is kept as a password sign-in keeps it.
 */
export function PasskeySignIn({ email }: { email: string }) {
  const client = useApolloClient();
  const [start] = useMutation(StartPasskeySignInDocument);
  const [finish] = useMutation(FinishPasskeySignInDocument);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  if (!browserSupportsWebAuthn()) return null;

  const signIn = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const { data: started } = await start({ variables: { email: email.trim() || null } });
      if (!started) return;
      let response;
      try {
        response = await startAuthentication({ optionsJSON: JSON.parse(started.startPasskeySignIn.options) });
      } catch (error) {
        return setProblem(passkeyProblem(error));
      }
      const { data } = await finish({ variables: { challengeId: started.startPasskeySignIn.challengeId, response: JSON.stringify(response) } });
      if (!data) return;
      await client.clearStore();
      saveSession(data.finishPasskeySignIn);
      navigate(data.finishPasskeySignIn.user.roles.includes('ARTIST') ? '/artist' : '/');
    } catch (error) {
      setProblem(formErrors(error, { messageFor: { UNAUTHENTICATED: 'That passkey did not sign you in. Try again, or use your password.' } }).form);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="passkey-sign-in">
      <button type="button" className="secondary" onClick={() => void signIn()} disabled={busy}>
        {busy ? 'Waiting for your passkey…' : 'Sign in with a passkey'}
      </button>
      <FormError message={problem} />
    </div>
  );
}
