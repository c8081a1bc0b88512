import { useEffect, useMemo } from 'react';
import { useQuery } from '@apollo/client/react';
import qrcode from 'qrcode-generator';
import { MyTicketsDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';

/** The QR code of a payload as an SVG data URL (byte mode; error correction M). */
function qrImage(payload: string): string {
  const code = qrcode(0, 'M');
  code.addData(payload, 'Byte');
  code.make();
  return `data:image/svg+xml;utf8,${encodeURIComponent(code.createSvgTag({ cellSize: 4, margin: 4 }))}`;
}

function TicketQr({ payload }: { payload: string }) {
  const src = useMemo(() => qrImage(payload), [payload]);
  return <img className="ticket-qr" src={src} alt="Ticket QR code" data-testid="ticket-qr" data-payload={payload} />;
}

/** The fan's tickets, each with its current QR code; reloaded when the code's rotation ends (about 30 s). */
export function Tickets() {
  const { data, loading, error, refetch } = useQuery(MyTicketsDocument, { fetchPolicy: 'network-only' });
  const tickets = data?.me?.tickets ?? [];
  const nextExpiry = Math.min(...tickets.map((t) => (t.qrExpiresAt ? new Date(t.qrExpiresAt as string).getTime() : Infinity)));
  useEffect(() => {
    if (!Number.isFinite(nextExpiry)) return;
    const timer = setTimeout(() => void refetch(), Math.max(1_000, nextExpiry - Date.now()));
    return () => clearTimeout(timer);
  }, [nextExpiry, refetch]);

  return (
    <section>
      <h1>My tickets</h1>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : null} />
      {data && tickets.length === 0 && <p className="muted">No tickets yet.</p>}
      <ul className="tickets" data-testid="tickets">
        {tickets.map((ticket) => (
          <li key={ticket.id}>
            <h2>{ticket.event.title}</h2>
            <p className="muted">
              {ticket.event.venue} · {new Date(ticket.event.startsAt as string).toLocaleString()} · {ticket.status === 'CHECKED_IN' ? 'checked in' : 'valid'}
              {ticket.wristbandBound ? ' · wristband bound' : ''}
            </p>
            {ticket.qr && (
              <>
                <TicketQr payload={ticket.qr} />
                <p className="muted">The code changes every 30 seconds: a screenshot will not work at the door.</p>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
