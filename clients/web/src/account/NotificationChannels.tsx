import { useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import {
  MyNotificationChannelsDocument,
  UpdateNotificationChannelsDocument,
  type NotificationChannel,
  type NotificationKind,
} from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';

export const kindLabels: Record<NotificationKind, string> = {
  REWARD_VOUCHER: 'Listening rewards',
  ORDER_FILLED: 'Order fills',
  REVENUE_PAID: 'Revenue payouts',
  DEPOSIT_SUCCEEDED: 'Deposits',
  SUBSCRIPTION_CHANGED: 'Subscription changes',
  CAMPAIGN_NFT_MINTED: 'Campaign NFTs',
};

const channelLabels: Record<NotificationChannel, string> = { IN_APP: 'In the app', EMAIL: 'Email', PUSH: 'Push' };
/** How a checkbox reads to a screen reader: "Deposits by email". */
const channelPhrases: Record<NotificationChannel, string> = { IN_APP: 'in the app', EMAIL: 'by email', PUSH: 'by push' };
const channels: NotificationChannel[] = ['IN_APP', 'EMAIL', 'PUSH'];

/** The account page's notification channels: one row per kind, one checkbox per channel. */
export function NotificationChannels() {
  const { data, loading, error } = useQuery(MyNotificationChannelsDocument, { fetchPolicy: 'cache-and-network' });
  const [update] = useMutation(UpdateNotificationChannelsDocument);
  // What the server last answered, kept here: persisted documents carry no __typename, so the cache is not updated for us.
  const [answered, setAnswered] = useState<Map<string, boolean> | null>(null);
  const [saving, setSaving] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const settings = data?.me?.notificationChannels ?? [];
  const enabled = new Map(settings.map((s) => [`${s.kind}:${s.channel}`, s.enabled]));
  for (const [key, value] of answered ?? []) enabled.set(key, value);
  const kinds = [...new Set(settings.map((s) => s.kind))];

  const toggle = async (kind: NotificationKind, channel: NotificationChannel, value: boolean) => {
    const key = `${kind}:${channel}`;
    const before = enabled.get(key) ?? true;
    // Shown at once; put back if the server refuses.
    setAnswered((current) => new Map(current ?? []).set(key, value));
    setSaving(key);
    setProblem(null);
    try {
      const result = await update({ variables: { input: [{ kind, channel, enabled: value }] } });
      const all = result.data?.updateNotificationChannels ?? [];
      setAnswered(new Map(all.map((s) => [`${s.kind}:${s.channel}`, s.enabled])));
    } catch (failure) {
      setAnswered((current) => new Map(current ?? []).set(key, before));
      setProblem(formErrors(failure).form ?? 'Could not save this setting.');
    } finally {
      setSaving(null);
    }
  };

  return (
    <section aria-label="Notification channels">
      <h2>Notification channels</h2>
      <p className="muted">Where each kind of notification reaches you. Email goes only to a verified address.</p>
      {loading && !data && <p className="muted">Loading…</p>}
      <FormError message={error ? formErrors(error).form : problem} />
      {kinds.length > 0 && (
        <table className="channel-grid" data-testid="notification-channels">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              {channels.map((channel) => (
                <th scope="col" key={channel}>
                  {channelLabels[channel]}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {kinds.map((kind) => (
              <tr key={kind}>
                <th scope="row">{kindLabels[kind]}</th>
                {channels.map((channel) => {
                  const key = `${kind}:${channel}`;
                  const checked = enabled.get(key) ?? true;
                  return (
                    <td key={channel}>
                      <input
                        type="checkbox"
                        aria-label={`${kindLabels[kind]} ${channelPhrases[channel]}`}
                        data-testid={`channel-${kind}-${channel}`}
                        checked={checked}
                        disabled={saving === key}
                        onChange={(event) => void toggle(kind, channel, event.target.checked)}
                      />
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
