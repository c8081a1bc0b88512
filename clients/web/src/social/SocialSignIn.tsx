import { useEffect, useRef, useState } from 'react';
import { useApolloClient, useMutation, useQuery } from '@apollo/client/react';
import { CompleteSocialSignInDocument, SignInProvidersDocument, StartSocialSignInDocument } from '../../../generated/graphql.ts';
import { saveSession } from '../auth/session.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { Link, navigate, useLocation } from '../router.tsx';

/** Where every provider sends the browser back (the server's OIDC_REDIRECT_URIS must list it). */
export const callbackPath = '/auth/callback';
/** The state this tab started, so the callback page only completes a sign-in it began. */
const STARTED_KEY = 'vibestream.social-sign-in.state';

/**
 * One button per configured provider (signInProviders), "Continue with <provider>" on both the
 * sign-in and sign-up pages (the same flow signs in or creates the account); each starts the
 * provider's sign-in and leaves for it.
 */
export function SocialSignInButtons() {
  const { data } = useQuery(SignInProvidersDocument, { fetchPolicy: 'cache-first' });
  const [start] = useMutation(StartSocialSignInDocument);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const providers = data?.signInProviders ?? [];
  if (providers.length === 0) return null;

  const go = async (provider: string) => {
    setBusy(provider);
    setError(null);
    try {
      const { data: started } = await start({ variables: { provider, redirectUri: `${location.origin}${callbackPath}` } });
      if (!started) return;
      sessionStorage.setItem(STARTED_KEY, started.startSocialSignIn.state);
      location.assign(started.startSocialSignIn.authorizationUrl);
    } catch (problem) {
      setError(formErrors(problem).form ?? 'This sign-in could not start.');
      setBusy(null);
    }
  };

  return (
    <div className="social-sign-in" aria-label="Sign in with another account">
      {providers.map((p) => (
        <button key={p.id} type="button" className="secondary" disabled={busy !== null} onClick={() => void go(p.id)}>
          {busy === p.id ? `Opening ${p.displayName}…` : `Continue with ${p.displayName}`}
        </button>
      ))}
      <FormError message={error} />
    </div>
  );
}

/** /auth/callback: the provider sent the browser back with code and state; trade them for a session. */
export function AuthCallback() {
  const { search } = useLocation();
  const client = useApolloClient();
  const [complete] = useMutation(CompleteSocialSignInDocument);
  const [error, setError] = useState<string | null>(null);
  const once = useRef(false);

  useEffect(() => {
    if (once.current) return;
    once.current = true;
    const code = search.get('code');
    const state = search.get('state');
    const denied = search.get('error');
    const started = sessionStorage.getItem(STARTED_KEY);
    sessionStorage.removeItem(STARTED_KEY);
    if (denied) return setError(search.get('error_description') ?? 'The sign-in was cancelled at the provider.');
    if (!code || !state) return setError('This page needs the code and state the provider sends back.');
    if (started !== state) return setError('This sign-in was not started in this browser tab. Please start again.');
    void (async () => {
      try {
        const { data } = await complete({ variables: { state, code } });
        if (!data) return;
        await client.clearStore();
        saveSession(data.completeSocialSignIn);
        // The code and state leave the address bar and the history.
        navigate(data.completeSocialSignIn.user.roles.includes('ARTIST') ? '/artist' : '/');
      } catch (problem) {
        setError(
          formErrors(problem, {
            messageFor: { BAD_USER_INPUT: 'This sign-in expired or did not verify. Please start again.' },
          }).form,
        );
      }
    })();
  }, [client, complete, search]);

  return (
    <div className="card narrow">
      <h1>Signing you in</h1>
      {error ? (
        <>
          <FormError message={error} />
          <p className="muted">
            <Link to="/signin">Back to sign in</Link>
          </p>
        </>
      ) : (
        <p className="muted">One moment…</p>
      )}
    </div>
  );
}
