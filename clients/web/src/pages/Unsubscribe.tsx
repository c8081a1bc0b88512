import { useState } from 'react';
import { useMutation } from '@apollo/client/react';
import { UnsubscribeEmailDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { Link, useLocation } from '../router.tsx';

const badLink = 'This unsubscribe link is not valid. Open it exactly as the email sent it, or change your settings on your account page.';

/**
 * /unsubscribe?token=…: the page a notification email's unsubscribe link opens. Needs no sign-in
 * (the signed token names the account and the kind); it asks before it changes anything, so a link
 * scanner that opens the page unsubscribes no one.
 */
export function UnsubscribePage() {
  const { search } = useLocation();
  const token = search.get('token') ?? '';
  const [unsubscribe, { loading }] = useMutation(UnsubscribeEmailDocument);
  const [outcome, setOutcome] = useState<'done' | string | null>(null);

  const confirm = async () => {
    try {
      const { data } = await unsubscribe({ variables: { token } });
      setOutcome(data?.unsubscribeEmail ? 'done' : badLink);
    } catch (error) {
      setOutcome(formErrors(error, { messageFor: { BAD_USER_INPUT: badLink } }).form ?? badLink);
    }
  };

  return (
    <section className="card narrow" aria-label="Unsubscribe">
      <h1>Stop these emails</h1>
      {!token && <FormError message={badLink} />}
      {token && outcome === null && (
        <>
          <p>Stop emails about this kind of notification? You still see them in the app, and can turn email back on from your account page.</p>
          <button type="button" onClick={() => void confirm()} disabled={loading} data-testid="confirm-unsubscribe">
            {loading ? 'Unsubscribing…' : 'Unsubscribe'}
          </button>
        </>
      )}
      {outcome === 'done' && (
        <p role="status" data-testid="unsubscribed">
          Done: you will get no more emails of this kind. <Link to="/account">Notification settings</Link>
        </p>
      )}
      {outcome !== null && outcome !== 'done' && <FormError message={outcome} />}
    </section>
  );
}
