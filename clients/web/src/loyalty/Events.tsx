import { useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { BuyTicketsDocument, UpcomingEventsDocument } from '../../../generated/graphql.ts';
import { useSession } from '../auth/useSession.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { Link } from '../router.tsx';

const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

/** Upcoming concerts with their ticket types; a signed-in fan buys with trading-account cash. */
export function Events() {
  const session = useSession();
  const { data, loading, error, refetch } = useQuery(UpcomingEventsDocument, { variables: { first: 50 }, fetchPolicy: 'cache-and-network' });
  const [buy, buying] = useMutation(BuyTicketsDocument);
  const [message, setMessage] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  const purchase = async (ticketTypeId: string) => {
    setMessage(null);
    setFailure(null);
    try {
      const result = await buy({ variables: { ticketTypeId, quantity: 1, clientPurchaseId: crypto.randomUUID() } });
      const status = result.data?.buyTickets.status;
      setMessage(status === 'CONFIRMED' ? 'Ticket bought: it is in My tickets.' : 'Purchase under way: your ticket will appear in My tickets.');
      await refetch();
    } catch (e) {
      setFailure(formErrors(e).form);
    }
  };

  const events = data?.upcomingEvents.edges.map((e) => e.node) ?? [];
  return (
    <section>
      <h1>Concerts</h1>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : failure} />
      {message && <p role="status">{message}</p>}
      {data && events.length === 0 && <p className="muted">No upcoming concerts yet.</p>}
      <ul className="events" data-testid="events">
        {events.map((event) => (
          <li key={event.id}>
            <h2>{event.title}</h2>
            <p className="muted">
              {event.venue} · {new Date(event.startsAt as string).toLocaleString()}
            </p>
            <ul>
              {event.ticketTypes.map((type) => (
                <li key={type.id}>
                  {type.name} · {dollars(type.priceCents)} · {type.remaining} left{' '}
                  {session ? (
                    <button type="button" disabled={!type.onSaleForMe || buying.loading} onClick={() => void purchase(type.id)}>
                      {type.onSaleForMe ? 'Buy' : 'Not on sale for you'}
                    </button>
                  ) : (
                    <Link to="/signin">Sign in to buy</Link>
                  )}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}
