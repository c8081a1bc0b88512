import { useEffect, useState, type FormEvent } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import type { ApolloClient } from '@apollo/client';
import { RequestPasswordResetDocument, ResetPasswordDocument, VerifyEmailDocument } from '../../../generated/graphql.ts';
import { saveSession } from '../auth/session.ts';
import { Field, FormError, fieldBinder } from '../components/Form.tsx';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { Link, navigate, useLocation } from '../router.tsx';

const badLink = 'This link is invalid, was already used or has expired.';

/**
 * A link's token is single-use: the page asks once per token, however often React runs the effect
 * (StrictMode runs it twice in development).
 */
const verifications = new Map<string, Promise<'verified' | string>>();

function verifyOnce(client: ApolloClient, token: string): Promise<'verified' | string> {
  let pending = verifications.get(token);
  if (!pending) {
    pending = client.mutate({ mutation: VerifyEmailDocument, variables: { token } }).then(
      ({ data }) => (data?.verifyEmail.emailVerified ? 'verified' : badLink),
      (error: unknown) => formErrors(error, { messageFor: { BAD_USER_INPUT: badLink } }).form ?? badLink,
    );
    verifications.set(token, pending);
  }
  return pending;
}

/** /verify-email?token=…: the page a verification link opens. Needs no sign-in: the link is the proof. */
export function VerifyEmailPage() {
  const client = useApolloClient();
  const { search } = useLocation();
  const token = search.get('token') ?? '';
  const [outcome, setOutcome] = useState<'verified' | string | null>(null);

  useEffect(() => {
    if (!token) return;
    let current = true;
    void verifyOnce(client, token).then((result) => current && setOutcome(result));
    return () => {
      current = false;
    };
  }, [client, token]);

  return (
    <section className="card narrow" aria-label="Email verification">
      <h1>Verify your email</h1>
      {!token && <FormError message="This link has no token. Open the link from the email exactly as it was sent." />}
      {token && outcome === null && <p role="status">Verifying…</p>}
      {outcome === 'verified' && (
        <p role="status" data-testid="email-verified">
          Your email address is verified. <Link to="/account">Go to your account</Link>
        </p>
      )}
      {outcome !== null && outcome !== 'verified' && (
        <>
          <FormError message={outcome} />
          <p className="muted">
            Ask for a new link on your <Link to="/account">account page</Link>.
          </p>
        </>
      )}
    </section>
  );
}

/** "Forgot your password?": asks for a reset link. The answer is the same whether or not the email has an account. */
export function ForgotPassword() {
  const [request, { loading }] = useMutation(RequestPasswordResetDocument);
  const [email, setEmail] = useState('');
  const [sentTo, setSentTo] = useState<string | null>(null);
  const [errors, setErrors] = useState<FormErrors>(noErrors);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setErrors(noErrors);
    try {
      await request({ variables: { email: email.trim() } });
      setSentTo(email.trim());
    } catch (error) {
      setErrors(formErrors(error, { fieldFor: { RATE_LIMITED: 'email' } }));
    }
  };

  return (
    <form className="card narrow" aria-label="Reset your password" onSubmit={submit} noValidate>
      <h1>Reset your password</h1>
      <p className="muted">Enter the email you sign in with. We will send you a link to choose a new password.</p>
      <Field label="Email" type="email" autoComplete="email" value={email} error={errors.fields.email} onChange={(e) => setEmail(e.target.value)} />
      <FormError message={errors.form} />
      {sentTo && (
        <p role="status" data-testid="reset-requested">
          If an account uses {sentTo}, we sent it a link to reset the password. The link works once, for an hour.
        </p>
      )}
      <button type="submit" disabled={loading}>
        {loading ? 'Sending…' : 'Send the link'}
      </button>
      <p className="muted">
        Remembered it? <Link to="/signin">Sign in</Link>
      </p>
    </form>
  );
}

/** /reset-password?token=…: the page a reset link opens. A new password, then signed in as SignIn does. */
export function ResetPasswordPage() {
  const client = useApolloClient();
  const { search } = useLocation();
  const token = search.get('token') ?? '';
  const [reset, { loading }] = useMutation(ResetPasswordDocument);
  const [form, setForm] = useState({ password: '', confirm: '' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const bind = fieldBinder(form, setForm, errors);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (form.password.length < 10) return setErrors({ fields: { password: 'Use at least 10 characters.' }, form: null });
    if (form.password !== form.confirm) return setErrors({ fields: { confirm: 'The two passwords differ.' }, form: null });
    try {
      const { data } = await reset({ variables: { token, newPassword: form.password } });
      if (!data) return;
      await client.clearStore();
      saveSession(data.resetPassword);
      navigate(data.resetPassword.user.roles.includes('ARTIST') ? '/artist' : '/');
    } catch (error) {
      // The server names the field: `token` (the link) or `newPassword`.
      const found = formErrors(error);
      if (found.fields.token) setErrors({ fields: {}, form: badLink });
      else if (found.fields.newPassword) setErrors({ fields: { password: found.fields.newPassword }, form: found.form });
      else setErrors(found);
    }
  };

  if (!token) {
    return (
      <section className="card narrow" aria-label="Reset your password">
        <h1>Choose a new password</h1>
        <FormError message="This link has no token. Open the link from the email exactly as it was sent." />
        <Link to="/forgot-password">Ask for a new link</Link>
      </section>
    );
  }

  return (
    <form className="card narrow" aria-label="Choose a new password" onSubmit={submit} noValidate>
      <h1>Choose a new password</h1>
      <p className="muted">Saving it signs you out on every device, and in here.</p>
      <Field label="New password" type="password" autoComplete="new-password" {...bind('password')} />
      <Field label="Confirm the password" type="password" autoComplete="new-password" {...bind('confirm')} />
      <FormError message={errors.form} />
      {errors.form === badLink && <Link to="/forgot-password">Ask for a new link</Link>}
      <button type="submit" disabled={loading}>
        {loading ? 'Saving…' : 'Save and sign in'}
      </button>
    </form>
  );
}
