import { useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { MarkNotificationsReadDocument, MyNotificationsDocument, OnNotificationAddedDocument } from '../../../generated/graphql.ts';
import { useSession } from '../auth/useSession.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { useLive } from '../live.ts';
import { Link } from '../router.tsx';

/**
 * The header's link to the notifications with the unread count, kept current by the live
 * notificationAdded subscription (a new notification reloads the list and the count).
 */
export function NotificationsBadge() {
  const session = useSession();
  const notifications = useQuery(MyNotificationsDocument, { variables: { unreadOnly: false }, skip: !session });
  const { refetch } = notifications;
  useLive(OnNotificationAddedDocument, { variables: {}, skip: !session, onData: () => void refetch() });
  const unread = notifications.data?.me?.unreadNotificationCount ?? 0;
  return (
    <Link to="/notifications" aria-label={unread ? `Notifications, ${unread} unread` : 'Notifications'}>
      Notifications
      {unread > 0 && (
        <span className="badge" data-testid="unread-badge">
          {unread}
        </span>
      )}
    </Link>
  );
}

export function Notifications() {
  const { data, loading, error, refetch } = useQuery(MyNotificationsDocument, { variables: { unreadOnly: false }, fetchPolicy: 'cache-and-network' });
  const [markRead, marking] = useMutation(MarkNotificationsReadDocument);
  const [markError, setMarkError] = useState<string | null>(null);
  const edges = data?.me?.notifications?.edges ?? [];
  const unreadIds = edges.filter((e) => !e.node.readAt).map((e) => e.node.id);

  const markAll = async () => {
    try {
      await markRead({ variables: { ids: unreadIds } });
      setMarkError(null);
      await refetch();
    } catch (e) {
      setMarkError(formErrors(e).form);
    }
  };

  return (
    <section>
      <h1>Notifications</h1>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : markError} />
      {unreadIds.length > 0 && (
        <button type="button" onClick={() => void markAll()} disabled={marking.loading}>
          Mark all as read
        </button>
      )}
      {data && edges.length === 0 && <p className="muted">Nothing yet. Rewards, trades and payouts will show up here.</p>}
      <ul className="notifications" data-testid="notifications">
        {edges.map(({ node }) => (
          <li key={node.id} className={`card${node.readAt ? '' : ' unread'}`}>
            <strong>{node.title}</strong>
            <p>{node.body}</p>
            <p className="muted">{new Date(node.createdAt).toLocaleString()}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}
