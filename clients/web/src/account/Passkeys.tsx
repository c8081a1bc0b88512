import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { browserSupportsWebAuthn, startRegistration } from '@simplewebauthn/browser';
import { FinishPasskeyRegistrationDocument, MyPasskeysDocument, RemovePasskeyDocument, StartPasskeyRegistrationDocument } from '../../../generated/graphql.ts';
import { Field, FormError } from '../components/Form.tsx';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { passkeyProblem } from '../passkeys/webauthn.ts';

const formatDate = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

/** The account page's passkeys: the list (with when each was last used), adding one on this device, removing one. */
export function Passkeys() {
  const { data, loading, error, refetch } = useQuery(MyPasskeysDocument, { fetchPolicy: 'cache-and-network' });
  const [startRegistrationMutation] = useMutation(StartPasskeyRegistrationDocument);
  const [finishRegistration] = useMutation(FinishPasskeyRegistrationDocument);
  const [removePasskey] = useMutation(RemovePasskeyDocument);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [notice, setNotice] = useState<string | null>(null);
  const passkeys = data?.me?.passkeys ?? [];
  const supported = browserSupportsWebAuthn();

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors(noErrors);
    setNotice(null);
    try {
      const { data: started } = await startRegistrationMutation();
      if (!started) return;
      let response;
      try {
        response = await startRegistration({ optionsJSON: JSON.parse(started.startPasskeyRegistration) });
      } catch (problem) {
        return setErrors({ fields: {}, form: passkeyProblem(problem) });
      }
      const { data: finished } = await finishRegistration({ variables: { response: JSON.stringify(response), name: name.trim() || null } });
      setName('');
      setNotice(finished ? `Added “${finished.finishPasskeyRegistration.name}”.` : null);
      await refetch();
    } catch (problem) {
      setErrors(formErrors(problem, { fieldFor: { CONFLICT: 'name' } }));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (id: string) => {
    setErrors(noErrors);
    setNotice(null);
    try {
      await removePasskey({ variables: { id } });
      await refetch();
    } catch (problem) {
      setErrors(formErrors(problem));
    }
  };

  return (
    <section aria-label="Passkeys">
      <h2>Passkeys</h2>
      <p className="muted">Sign in with your fingerprint, face or device PIN instead of your password.</p>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : null} />
      {data && passkeys.length === 0 && <p className="muted">No passkeys yet.</p>}
      {passkeys.length > 0 && (
        <ul className="passkeys" data-testid="passkeys">
          {passkeys.map((p) => (
            <li key={p.id}>
              <strong>{p.name}</strong> <span className="muted">added {formatDate(p.createdAt)}</span>{' '}
              <span className="muted">{p.lastUsedAt ? `last used ${formatDate(p.lastUsedAt)}` : 'never used'}</span>{' '}
              <button type="button" className="link" aria-label={`Remove ${p.name}`} onClick={() => void remove(p.id)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {supported ? (
        <form aria-label="Add a passkey" onSubmit={add} noValidate>
          <Field
            label="Passkey name"
            placeholder="e.g. My laptop"
            maxLength={64}
            value={name}
            error={errors.fields.name}
            onChange={(e) => setName(e.target.value)}
          />
          <FormError message={errors.form ?? errors.fields.response ?? null} />
          {notice && <p role="status">{notice}</p>}
          <button type="submit" disabled={busy}>
            {busy ? 'Waiting for your device…' : 'Add a passkey'}
          </button>
        </form>
      ) : (
        <p className="muted">This browser cannot create passkeys.</p>
      )}
    </section>
  );
}
