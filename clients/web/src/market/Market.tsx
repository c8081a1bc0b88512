import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import {
  BuyOfferingSharesDocument,
  CancelOrderDocument,
  MyOpenOrdersDocument,
  OnOrderBookUpdatedDocument,
  OnTradeExecutedDocument,
  OrderBookDocument,
  PlaceOrderDocument,
  PortfolioDocument,
  SongDetailsDocument,
  type MyOpenOrdersQuery,
  type OnOrderBookUpdatedSubscription,
  type OnTradeExecutedSubscription,
  type SongDetailsQuery,
  type OrderSide,
  type OrderType,
} from '../../../generated/graphql.ts';
import { useSession } from '../auth/useSession.ts';
import { Field, FormError, SelectField } from '../components/Form.tsx';
import { formatCents, parseDollars } from '../format.ts';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { useLive, useLiveConnected } from '../live.ts';
import { Link } from '../router.tsx';

type Trade = OnTradeExecutedSubscription['tradeExecuted'];
/** The live event's book; the snapshot query selects the same fields and more. */
type Book = OnOrderBookUpdatedSubscription['orderBookUpdated'];
type Offering = NonNullable<NonNullable<SongDetailsQuery['song']>['market']['offering']>;
type MyOrder = NonNullable<NonNullable<MyOpenOrdersQuery['me']>['openOrders']>[number];

export function Market({ songId }: { songId: string }) {
  const session = useSession();
  const song = useQuery(SongDetailsDocument, { variables: { id: songId } });
  const portfolio = useQuery(PortfolioDocument, { skip: !session });
  const openOrders = useQuery(MyOpenOrdersDocument, { skip: !session });
  const [trades, setTrades] = useState<Trade[]>([]);

  const refreshMine = () => {
    if (!session) return;
    void portfolio.refetch();
    void openOrders.refetch();
    void song.refetch();
  };

  // Someone's order may have filled one of mine: refresh my side whenever this song trades.
  useLive(OnTradeExecutedDocument, {
    variables: { songId },
    onData: (data) => {
      setTrades((list) => (list.some((t) => t.id === data.tradeExecuted.id) ? list : [data.tradeExecuted, ...list].slice(0, 50)));
      refreshMine();
    },
  });

  const details = song.data?.song;
  const offering = details?.market.offering;
  const account = portfolio.data?.me?.tradingAccount;
  const holding = portfolio.data?.me?.portfolio?.holdings.find((h) => h.song.id === songId);
  const mine = openOrders.data?.me?.openOrders?.filter((o) => o.song.id === songId) ?? [];

  return (
    <section>
      <h1>{details ? `${details.title}: market` : 'Market'}</h1>
      <p className="muted">
        {details && <Link to={`/songs/${songId}`}>Back to the song</Link>} · last trade {formatCents(details?.market.lastTradePriceCents)} ·{' '}
        {details?.market.volume24h ?? 0} shares traded in 24 h
      </p>
      {session && (
        <p data-testid="account">
          Cash {formatCents(account?.cashCents ?? 0)} available, {formatCents(account?.reservedCents ?? 0)} reserved · you hold {holding?.quantity ?? 0} shares
          {holding && holding.reservedQuantity > 0 && ` (${holding.reservedQuantity} in sell orders)`}
        </p>
      )}
      <div className="columns">
        <OrderBook songId={songId} />
        <div className="card">
          <h2>Trades</h2>
          {trades.length === 0 && <p className="muted">No trades since you opened this page.</p>}
          <table aria-label="Trades" data-testid="trades">
            <thead>
              <tr>
                <th>Time</th>
                <th>Price</th>
                <th>Shares</th>
              </tr>
            </thead>
            <tbody>
              {trades.map((t) => (
                <tr key={t.id}>
                  <td>{new Date(t.executedAt).toLocaleTimeString()}</td>
                  <td>{formatCents(t.priceCents)}</td>
                  <td>{t.quantity}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      {session ? (
        <div className="columns">
          {offering && offering.status === 'OPEN' && <BuyOffering offering={offering} onDone={refreshMine} />}
          <PlaceOrder songId={songId} onDone={refreshMine} />
          <div className="card">
            <h2>Your open orders</h2>
            {mine.length === 0 && <p className="muted">None on this song.</p>}
            <ul data-testid="open-orders">
              {mine.map((order) => (
                <OpenOrder key={order.id} order={order} onDone={refreshMine} />
              ))}
            </ul>
          </div>
        </div>
      ) : (
        <p>
          <Link to="/signin">Sign in</Link> to trade.
        </p>
      )}
    </section>
  );
}

function OrderBook({ songId }: { songId: string }) {
  const [book, setBook] = useState<Book | null>(null);
  const snapshot = useQuery(OrderBookDocument, { variables: { songId, depth: 10 }, fetchPolicy: 'network-only' });
  const connected = useLiveConnected();
  useLive(OnOrderBookUpdatedDocument, { variables: { songId }, onData: (data) => setBook(data.orderBookUpdated) });
  useEffect(() => {
    if (snapshot.data) setBook(snapshot.data.orderBook);
  }, [snapshot.data]);
  // Changes made while the live connection was down are not replayed: read the book again on (re)connect.
  const { refetch } = snapshot;
  useEffect(() => {
    if (connected) void refetch();
  }, [connected, refetch]);
  return (
    <div className="card" data-testid="order-book">
      <h2>
        Order book{' '}
        {connected && (
          <span className="live" data-testid="live">
            live
          </span>
        )}
      </h2>
      <div className="columns">
        <Levels side="Bid" levels={book?.bids ?? []} testId="bids" />
        <Levels side="Ask" levels={book?.asks ?? []} testId="asks" />
      </div>
    </div>
  );
}

/** One side of the book, best price first. */
function Levels({ side, levels, testId }: { side: 'Bid' | 'Ask'; levels: Book['bids']; testId: string }) {
  return (
    <table aria-label={`${side}s`}>
      <thead>
        <tr>
          <th>{side}</th>
          <th>Shares</th>
        </tr>
      </thead>
      <tbody data-testid={testId}>
        {levels.map((level) => (
          <tr key={level.priceCents}>
            <td>{formatCents(level.priceCents)}</td>
            <td>{level.quantity}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BuyOffering({ offering, onDone }: { offering: Offering; onDone: () => void }) {
  const [buy, { loading }] = useMutation(BuyOfferingSharesDocument);
  const [quantity, setQuantity] = useState('');
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    const n = Number(quantity);
    if (!Number.isInteger(n) || n < 1) return setErrors({ fields: { quantity: 'Enter a whole number of shares (1 or more).' }, form: null });
    try {
      const { data } = await buy({ variables: { offeringId: offering.id, quantity: n } });
      setErrors(noErrors);
      if (data) setDone(`Bought ${data.buyOfferingShares.quantity} shares for ${formatCents(data.buyOfferingShares.costCents)}.`);
      onDone();
    } catch (error) {
      setErrors(
        formErrors(error, {
          fieldFor: { INSUFFICIENT_FUNDS: 'quantity', CONFLICT: 'quantity' },
          messageFor: { INSUFFICIENT_FUNDS: 'You do not have enough available cash for that many shares.' },
        }),
      );
    }
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-label="Buy from the offering">
      <h2>Offering</h2>
      <p>
        {offering.sharesRemaining} shares left at {formatCents(offering.pricePerShareCents)} each.
      </p>
      <Field label="Shares to buy" inputMode="numeric" value={quantity} error={errors.fields.quantity} onChange={(e) => setQuantity(e.target.value)} />
      <FormError message={errors.form} />
      {done && <p className="success">{done}</p>}
      <button type="submit" disabled={loading}>
        Buy shares
      </button>
    </form>
  );
}

function PlaceOrder({ songId, onDone }: { songId: string; onDone: () => void }) {
  const [place, { loading }] = useMutation(PlaceOrderDocument);
  const [form, setForm] = useState({ side: 'BUY' as OrderSide, type: 'LIMIT' as OrderType, quantity: '', price: '' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    const quantity = Number(form.quantity);
    const fields: Record<string, string> = {};
    if (!Number.isInteger(quantity) || quantity < 1) fields.quantity = 'Enter a whole number of shares (1 or more).';
    const limitPriceCents = form.type === 'LIMIT' ? parseDollars(form.price) : null;
    if (limitPriceCents !== null && !(limitPriceCents > 0)) fields.limitPriceCents = 'Enter a price in dollars, such as 5.25.';
    if (Object.keys(fields).length) return setErrors({ fields, form: null });
    try {
      const { data } = await place({
        variables: { input: { songId, side: form.side, type: form.type, quantity, limitPriceCents, clientOrderId: crypto.randomUUID() } },
      });
      setErrors(noErrors);
      const order = data?.placeOrder.order;
      if (order) {
        const filled = order.filledQuantity ? `${order.filledQuantity} filled at ${formatCents(order.averageFillPriceCents)}` : 'nothing filled yet';
        setDone(`Order ${order.status.toLowerCase()}: ${filled}.`);
      }
      setForm({ ...form, quantity: '', price: '' });
      onDone();
    } catch (error) {
      setErrors(
        formErrors(error, {
          fieldFor: { INSUFFICIENT_FUNDS: 'quantity' },
          messageFor: {
            INSUFFICIENT_FUNDS: form.side === 'BUY' ? 'You do not have enough available cash for this order.' : 'You do not have enough free shares to sell.',
          },
        }),
      );
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate aria-label="Place an order">
      <h2>Place an order</h2>
      <SelectField label="Side" value={form.side} onChange={(e) => setForm({ ...form, side: e.target.value as OrderSide })}>
        <option value="BUY">Buy</option>
        <option value="SELL">Sell</option>
      </SelectField>
      <SelectField label="Type" value={form.type} onChange={(e) => setForm({ ...form, type: e.target.value as OrderType })}>
        <option value="LIMIT">Limit</option>
        <option value="MARKET">Market</option>
      </SelectField>
      <Field
        label="Shares"
        inputMode="numeric"
        value={form.quantity}
        error={errors.fields.quantity}
        onChange={(e) => setForm({ ...form, quantity: e.target.value })}
      />
      {form.type === 'LIMIT' && (
        <Field
          label="Limit price ($ per share)"
          inputMode="decimal"
          value={form.price}
          error={errors.fields.limitPriceCents}
          onChange={(e) => setForm({ ...form, price: e.target.value })}
        />
      )}
      <FormError message={errors.form} />
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      <button type="submit" disabled={loading}>
        {loading ? 'Placing…' : 'Place order'}
      </button>
    </form>
  );
}

function OpenOrder({ order, onDone }: { order: MyOrder; onDone: () => void }) {
  const [cancel, { loading }] = useMutation(CancelOrderDocument);
  const [error, setError] = useState<string | null>(null);
  return (
    <li>
      {order.side === 'BUY' ? 'Buy' : 'Sell'} {order.quantity - order.filledQuantity} of {order.quantity} at {formatCents(order.limitPriceCents)}{' '}
      <button
        type="button"
        className="link"
        disabled={loading}
        onClick={async () => {
          try {
            await cancel({ variables: { orderId: order.id } });
            onDone();
          } catch (e) {
            setError(formErrors(e, { messageFor: { CONFLICT: 'This order is already filled or cancelled.' } }).form);
            onDone();
          }
        }}
      >
        Cancel
      </button>
      <FormError message={error} />
    </li>
  );
}
