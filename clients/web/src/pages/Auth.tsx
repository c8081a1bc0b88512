import { useState, type FormEvent } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import { LoginDocument, RegisterDocument, type Role } from '../../../generated/graphql.ts';
import { saveSession } from '../auth/session.ts';
import { Field, FormError, fieldBinder } from '../components/Form.tsx';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { Link, navigate } from '../router.tsx';
import { SocialSignInButtons } from '../social/SocialSignIn.tsx';
import { PasskeySignIn } from '../passkeys/PasskeySignIn.tsx';

export function SignUp() {
  const client = useApolloClient();
  const [register, { loading }] = useMutation(RegisterDocument);
  const [form, setForm] = useState({ email: '', password: '', displayName: '', role: 'FAN' as Role });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const bind = fieldBinder(form, setForm, errors);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (form.password.length < 10) return setErrors({ fields: { password: 'Use at least 10 characters.' }, form: null });
    try {
      const { data } = await register({ variables: { input: form } });
      if (!data) return;
      await client.clearStore();
      saveSession(data.register);
      navigate(form.role === 'ARTIST' ? '/artist' : '/');
    } catch (error) {
      setErrors(formErrors(error, { fieldFor: { CONFLICT: 'email' } }));
    }
  };

  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Create your account</h1>
      <Field label="Email" type="email" autoComplete="email" {...bind('email')} />
      <Field label="Password" type="password" autoComplete="new-password" {...bind('password')} />
      <Field label="Display name" {...bind('displayName')} />
      <fieldset className="field">
        <legend>I am</legend>
        <label className="inline">
          <input type="radio" name="role" checked={form.role === 'FAN'} onChange={() => setForm({ ...form, role: 'FAN' })} /> a fan
        </label>
        <label className="inline">
          <input type="radio" name="role" checked={form.role === 'ARTIST'} onChange={() => setForm({ ...form, role: 'ARTIST' })} /> an artist
        </label>
        {errors.fields.role && (
          <p className="field-error" role="alert">
            {errors.fields.role}
          </p>
        )}
      </fieldset>
      <FormError message={errors.form} />
      <button type="submit" disabled={loading}>
        {loading ? 'Creating…' : 'Sign up'}
      </button>
      <SocialSignInButtons />
      <p className="muted">
        Already have an account? <Link to="/signin">Sign in</Link>
      </p>
    </form>
  );
}

export function SignIn() {
  const client = useApolloClient();
  const [login, { loading }] = useMutation(LoginDocument);
  const [form, setForm] = useState({ email: '', password: '' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const bind = fieldBinder(form, setForm, errors);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const { data } = await login({ variables: form });
      if (!data) return;
      await client.clearStore();
      saveSession(data.login);
      navigate(data.login.user.roles.includes('ARTIST') ? '/artist' : '/');
    } catch (error) {
      setErrors(
        formErrors(error, {
          fieldFor: { UNAUTHENTICATED: 'password', RATE_LIMITED: 'password' },
          messageFor: { UNAUTHENTICATED: 'That email and password do not match an account.' },
        }),
      );
    }
  };

  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Sign in</h1>
      <Field label="Email" type="email" autoComplete="email" {...bind('email')} />
      <Field label="Password" type="password" autoComplete="current-password" {...bind('password')} />
      <p className="muted">
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <FormError message={errors.form} />
      <button type="submit" disabled={loading}>
        {loading ? 'Signing in…' : 'Sign in'}
      </button>
      <SocialSignInButtons />
      <PasskeySignIn email={form.email} />
      <p className="muted">
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </form>
  );
}
