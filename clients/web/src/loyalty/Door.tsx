import { useState, type FormEvent } from 'react';
import { useMutation } from '@apollo/client/react';
import { CheckInDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';

/** A door screen: scan (or paste) a ticket's QR payload, see ADMITTED, ALREADY_ADMITTED or REJECTED with its reason. */
export function Door() {
  const [eventId, setEventId] = useState('');
  const [staffToken, setStaffToken] = useState('');
  const [payload, setPayload] = useState('');
  const [deviceId] = useState(() => `web-door-${crypto.randomUUID().slice(0, 8)}`);
  const [checkIn, checking] = useMutation(CheckInDocument);
  const [result, setResult] = useState<{ result: string; reason: string | null } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setResult(null);
    setFailure(null);
    try {
      const answer = await checkIn({ variables: { eventId: eventId.trim(), qr: payload.trim(), deviceId, staffToken: staffToken.trim() || null } });
      if (answer.data) setResult(answer.data.checkIn);
      setPayload('');
    } catch (e) {
      setFailure(formErrors(e).form);
    }
  };

  return (
    <section>
      <h1>Door</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Event id
          <input value={eventId} onChange={(e) => setEventId(e.target.value)} required />
        </label>
        <label>
          Staff token (unless you are the event's artist)
          <input value={staffToken} onChange={(e) => setStaffToken(e.target.value)} />
        </label>
        <label>
          Ticket QR payload
          <textarea value={payload} onChange={(e) => setPayload(e.target.value)} rows={3} required data-testid="door-payload" />
        </label>
        <button type="submit" disabled={checking.loading}>
          Check in
        </button>
      </form>
      <FormError message={failure} />
      {result && (
        <p role="status" className={`door-result door-${result.result.toLowerCase()}`} data-testid="door-result">
          {result.result}
          {result.reason ? ` (${result.reason})` : ''}
        </p>
      )}
    </section>
  );
}
