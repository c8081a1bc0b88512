import { useId, type ChangeEvent, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import type { FormErrors } from '../errors.ts';

/** A labelled input with its error message right under it (announced to screen readers). */
export function Field({ label, error, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string | undefined }) {
  const id = useId();
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined} {...input} />
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** The keys of a form's state whose values are free text. */
type TextKeys<F> = { [K in keyof F]: string extends F[K] ? K : never }[keyof F] & string;

/**
 * Binds `Field`s to a form's state: `bind(name)` is the `value`, `error` (the message for `name`, or
 * for `errorName` when the server names the field otherwise) and `onChange` (setting `name` to the
 * input's text) of the field showing `form[name]`.
 */
export function fieldBinder<F extends object>(form: F, setForm: (form: F) => void, errors: FormErrors) {
  return (name: TextKeys<F>, errorName: string = name) => ({
    value: form[name] as string,
    error: errors.fields[errorName],
    onChange: (e: ChangeEvent<HTMLInputElement>) => setForm({ ...form, [name]: e.target.value }),
  });
}

export function SelectField({
  label,
  error,
  children,
  ...select
}: SelectHTMLAttributes<HTMLSelectElement> & { label: string; error?: string | undefined; children: ReactNode }) {
  const id = useId();
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <select id={id} aria-invalid={error ? true : undefined} {...select}>
        {children}
      </select>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function FormError({ message }: { message: string | null }) {
  return message ? (
    <p className="form-error" role="alert">
      {message}
    </p>
  ) : null;
}
