import { useQuery } from '@apollo/client/react';
import { useEffect, useState } from 'react';
import { PortfolioDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formatCents } from '../format.ts';
import { formErrors } from '../errors.ts';
import { Link } from '../router.tsx';
import { AddFunds } from './AddFunds.tsx';

/** How long the page looks for a card deposit to arrive before it stops asking. */
const DEPOSIT_WAIT_MS = 60_000;

export function Portfolio() {
  const { data, loading, error, startPolling, stopPolling } = useQuery(PortfolioDocument, { fetchPolicy: 'cache-and-network' });
  // The cash the account should reach once a deposit started here is paid; asked for every second until then.
  const [expectedCash, setExpectedCash] = useState<number | null>(null);
  const cash = data?.me?.tradingAccount?.cashCents ?? 0;
  useEffect(() => {
    if (expectedCash === null) return;
    if (cash >= expectedCash) {
      setExpectedCash(null);
      return;
    }
    startPolling(1_000);
    const giveUp = setTimeout(() => setExpectedCash(null), DEPOSIT_WAIT_MS);
    return () => {
      clearTimeout(giveUp);
      stopPolling();
    };
  }, [expectedCash, cash, startPolling, stopPolling]);
  if (loading && !data) return <p className="muted">Loading…</p>;
  if (error) return <FormError message={formErrors(error).form} />;
  const me = data?.me;
  return (
    <section>
      <h1>Portfolio</h1>
      <p data-testid="portfolio-cash">
        Cash {formatCents(me?.tradingAccount?.cashCents ?? 0)} available · {formatCents(me?.tradingAccount?.reservedCents ?? 0)} reserved in buy orders ·
        holdings worth {formatCents(me?.portfolio?.totalValueCents ?? 0)}
      </p>
      <AddFunds onStarted={(amountCents) => setExpectedCash(cash + amountCents)} />
      <table aria-label="Holdings">
        <thead>
          <tr>
            <th>Song</th>
            <th>Shares</th>
            <th>In sell orders</th>
            <th>Average cost</th>
            <th>Market value</th>
          </tr>
        </thead>
        <tbody>
          {me?.portfolio?.holdings.map((h) => (
            <tr key={h.song.id}>
              <td>
                <Link to={`/songs/${h.song.id}/market`}>{h.song.title}</Link> <span className="muted">by {h.song.artist.name}</span>
              </td>
              <td>{h.quantity}</td>
              <td>{h.reservedQuantity}</td>
              <td>{formatCents(h.averageCostCents)}</td>
              <td>{formatCents(h.marketValueCents)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {me?.portfolio?.holdings.length === 0 && <p className="muted">No shares yet. Buy some from a song’s market page.</p>}
      <h2>Open orders</h2>
      <ul>
        {me?.openOrders?.map((o) => (
          <li key={o.id}>
            {o.side === 'BUY' ? 'Buy' : 'Sell'} {o.quantity - o.filledQuantity} of {o.quantity} at {formatCents(o.limitPriceCents)}
          </li>
        ))}
      </ul>
    </section>
  );
}
