import { useMutation } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { CreateDepositDocument } from '../../../generated/graphql.ts';
import { Field, FormError } from '../components/Form.tsx';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { formatCents, parseDollars } from '../format.ts';

/**
 * A card deposit into the trading account: payments starts a Stripe PaymentIntent and credits the
 * account when Stripe reports it paid (`payment_intent.succeeded`). Under `npm start` without a
 * Stripe key, the local stand-in for Stripe's test mode pays it a moment later.
 */
export function AddFunds({ onStarted }: { onStarted: (amountCents: number) => void }) {
  const [deposit, { loading }] = useMutation(CreateDepositDocument);
  const [amount, setAmount] = useState('');
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [started, setStarted] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setStarted(null);
    const amountCents = parseDollars(amount);
    if (!(amountCents > 0)) return setErrors({ fields: { amountCents: 'Enter an amount in dollars, such as 50.' }, form: null });
    try {
      await deposit({ variables: { amountCents, method: 'CARD' } });
      setErrors(noErrors);
      setStarted(`Card payment of ${formatCents(amountCents)} started: your cash goes up as soon as it is paid.`);
      onStarted(amountCents);
    } catch (error) {
      setErrors(formErrors(error, { fieldFor: { BAD_USER_INPUT: 'amountCents' } }));
    }
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-label="Add funds">
      <h2>Add funds</h2>
      <Field label="Amount ($)" inputMode="decimal" value={amount} error={errors.fields.amountCents} onChange={(e) => setAmount(e.target.value)} />
      <FormError message={errors.form} />
      {started && <p className="success">{started}</p>}
      <button type="submit" disabled={loading}>
        Pay by card
      </button>
    </form>
  );
}
