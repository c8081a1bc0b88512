import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { ChangeEmailDocument, MyEmailDocument, RequestEmailVerificationDocument } from '../../../generated/graphql.ts';
import { Field, FormError, fieldBinder } from '../components/Form.tsx';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';

/** The account page's email: the address and whether it is verified, a verification link, and changing it. */
export function EmailSettings() {
  const { data, loading, error, refetch } = useQuery(MyEmailDocument, { fetchPolicy: 'cache-and-network' });
  const [requestVerification, { loading: sending }] = useMutation(RequestEmailVerificationDocument);
  const [changeEmail, { loading: changing }] = useMutation(ChangeEmailDocument);
  const [sendState, setSendState] = useState<{ notice: string | null; error: string | null }>({ notice: null, error: null });
  const [form, setForm] = useState({ newEmail: '', currentPassword: '' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const bind = fieldBinder(form, setForm, errors);
  const [changedTo, setChangedTo] = useState<string | null>(null);
  const me = data?.me;

  const sendLink = async () => {
    setSendState({ notice: null, error: null });
    try {
      await requestVerification();
      setSendState({ notice: `We sent a link to ${me?.email ?? 'your email'}. It works once, for 24 hours.`, error: null });
    } catch (problem) {
      const found = formErrors(problem);
      setSendState({ notice: null, error: found.form ?? Object.values(found.fields)[0] ?? 'Could not send the link.' });
    }
  };

  const change = async (event: FormEvent) => {
    event.preventDefault();
    setErrors(noErrors);
    setChangedTo(null);
    try {
      const { data: changed } = await changeEmail({ variables: { newEmail: form.newEmail.trim(), currentPassword: form.currentPassword } });
      if (!changed) return;
      setForm({ newEmail: '', currentPassword: '' });
      setSendState({ notice: null, error: null });
      setChangedTo(changed.changeEmail.email ?? form.newEmail.trim());
      // Persisted documents carry no __typename, so the answer does not update the cached `me`: read it again.
      await refetch();
    } catch (problem) {
      setErrors(formErrors(problem, { fieldFor: { CONFLICT: 'newEmail', RATE_LIMITED: 'currentPassword' } }));
    }
  };

  return (
    <section aria-label="Email address">
      <h2>Email address</h2>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : null} />
      {me && (
        <p data-testid="email-status">
          <strong>{me.email}</strong>{' '}
          {me.emailVerified ? <span className="badge verified">Verified</span> : <span className="badge unverified">Not verified</span>}
        </p>
      )}
      {me && !me.emailVerified && (
        <div>
          <button type="button" onClick={() => void sendLink()} disabled={sending}>
            {sending ? 'Sending…' : 'Send verification link'}
          </button>
          {sendState.notice && <p role="status">{sendState.notice}</p>}
          <FormError message={sendState.error} />
        </div>
      )}
      <form aria-label="Change your email" onSubmit={change} noValidate>
        <h3>Change your email</h3>
        <p className="muted">You sign in with the new address at once. It stays unverified until you open the link we send to it; we tell the old address.</p>
        <Field label="New email" type="email" autoComplete="email" {...bind('newEmail')} />
        <Field label="Current password" type="password" autoComplete="current-password" {...bind('currentPassword')} />
        <FormError message={errors.form} />
        {changedTo && <p role="status">Your email is now {changedTo}. Open the link we sent there to verify it.</p>}
        <button type="submit" disabled={changing}>
          {changing ? 'Changing…' : 'Change email'}
        </button>
      </form>
    </section>
  );
}
