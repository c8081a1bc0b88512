import { useEffect, useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import {
  MyPushSubscriptionsDocument,
  RegisterPushSubscriptionDocument,
  RemovePushSubscriptionDocument,
  WebPushConfigDocument,
} from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';

/** The service worker that shows pushes (clients/web/public/sw.js, served by the gateway at the app's root). */
export const SERVICE_WORKER_URL = '/sw.js';
/** Which of the account's subscriptions is this browser's (the server never shows endpoints back). */
const THIS_BROWSER_KEY = 'vibestream.push.subscriptionId';

const formatDate = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

export function pushSupported(): boolean {
  return typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** A base64url string (the VAPID public key) as the bytes PushManager.subscribe takes. */
export function base64urlToBytes(value: string): Uint8Array<ArrayBuffer> {
  const base64 = value
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(value.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const bytesToBase64url = (buffer: ArrayBuffer | null) =>
  buffer
    ? btoa(String.fromCharCode(...new Uint8Array(buffer)))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '')
    : '';

/** This browser's push subscription under our service worker, if it has one. */
async function currentSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return (await registration?.pushManager.getSubscription()) ?? null;
}

function permissionProblem(permission: NotificationPermission): string | null {
  if (permission === 'denied') return 'Notifications are blocked for this site. Allow them in your browser’s site settings, then try again.';
  if (permission === 'default') return 'Notifications were not allowed. Choose “Allow” when your browser asks.';
  return null;
}

/**
 * The account page's push section: turn on push for this browser (asks permission, subscribes with
 * the server's VAPID key, registers the subscription), turn it off, and the account's subscribed
 * browsers, each with a remove button.
 */
export function PushOptIn() {
  const supported = pushSupported();
  const config = useQuery(WebPushConfigDocument, { skip: !supported });
  const { data, loading, error, refetch } = useQuery(MyPushSubscriptionsDocument, { fetchPolicy: 'cache-and-network' });
  const [register] = useMutation(RegisterPushSubscriptionDocument);
  const [remove] = useMutation(RemovePushSubscriptionDocument);
  const [thisBrowser, setThisBrowser] = useState<PushSubscription | null>(null);
  const [thisBrowserId, setThisBrowserId] = useState<string | null>(() =>
    typeof localStorage === 'undefined' ? null : localStorage.getItem(THIS_BROWSER_KEY),
  );
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const subscriptions = data?.me?.pushSubscriptions ?? [];

  useEffect(() => {
    if (!supported) return;
    currentSubscription()
      .then(setThisBrowser)
      .catch(() => setThisBrowser(null));
  }, [supported]);

  const remember = (id: string | null) => {
    setThisBrowserId(id);
    if (id) localStorage.setItem(THIS_BROWSER_KEY, id);
    else localStorage.removeItem(THIS_BROWSER_KEY);
  };

  const enable = async () => {
    setBusy(true);
    setProblem(null);
    setNotice(null);
    try {
      const publicKey = config.data?.webPushPublicKey;
      if (!publicKey) return setProblem('Push is not available right now. Please try again later.');
      const permission = await Notification.requestPermission();
      const refused = permissionProblem(permission);
      if (refused) return setProblem(refused);
      const registration = await navigator.serviceWorker.register(SERVICE_WORKER_URL, { scope: '/' });
      await navigator.serviceWorker.ready;
      let subscription = await registration.pushManager.getSubscription();
      // A subscription made with another server key (the key changed) cannot be sent to: make a new one.
      const key = subscription?.options.applicationServerKey ?? null;
      if (subscription && key && bytesToBase64url(key) !== publicKey) {
        await subscription.unsubscribe();
        subscription = null;
      }
      subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlToBytes(publicKey) });
      const json = subscription.toJSON();
      const { data: registered } = await register({
        variables: { input: { endpoint: subscription.endpoint, p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' } },
      });
      setThisBrowser(subscription);
      remember(registered?.registerPushSubscription.id ?? null);
      setNotice('Push notifications are on for this browser.');
      await refetch();
    } catch (failure) {
      const errors = formErrors(failure);
      const graphError = errors.form ?? Object.values(errors.fields)[0];
      setProblem(
        graphError && !(failure instanceof DOMException)
          ? graphError
          : `This browser could not subscribe: ${failure instanceof Error ? failure.message : String(failure)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  /** Removes one subscription; when it is this browser's, this browser unsubscribes too. */
  const removeOne = async (id: string) => {
    setProblem(null);
    setNotice(null);
    try {
      await remove({ variables: { id } });
      if (id === thisBrowserId) {
        await thisBrowser?.unsubscribe();
        setThisBrowser(null);
        remember(null);
      }
      await refetch();
    } catch (failure) {
      setProblem(formErrors(failure).form);
    }
  };

  const disable = async () => {
    setBusy(true);
    try {
      if (thisBrowserId) await removeOne(thisBrowserId);
      else {
        await thisBrowser?.unsubscribe();
        setThisBrowser(null);
      }
      setNotice('Push notifications are off for this browser.');
    } finally {
      setBusy(false);
    }
  };

  const onHere = thisBrowser !== null && subscriptions.some((s) => s.id === thisBrowserId);

  return (
    <section aria-label="Push notifications">
      <h2>Push notifications</h2>
      <p className="muted">Get your notifications on this device even when VibeStream is closed.</p>
      {!supported ? (
        <p className="muted">This browser cannot receive push notifications.</p>
      ) : (
        <div>
          {onHere ? (
            <button type="button" disabled={busy} onClick={() => void disable()}>
              Turn off on this browser
            </button>
          ) : (
            <button type="button" disabled={busy || !config.data} onClick={() => void enable()}>
              {busy ? 'Waiting for your browser…' : 'Turn on for this browser'}
            </button>
          )}
        </div>
      )}
      <FormError message={problem ?? (error ? formErrors(error).form : null)} />
      {notice && <p role="status">{notice}</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && subscriptions.length === 0 && <p className="muted">No browser receives your push notifications.</p>}
      {subscriptions.length > 0 && (
        <ul className="push-subscriptions" data-testid="push-subscriptions">
          {subscriptions.map((s) => (
            <li key={s.id}>
              <strong>{s.id === thisBrowserId && thisBrowser ? 'This browser' : 'A browser'}</strong> <span className="muted">via {s.endpointOrigin}</span>{' '}
              <span className="muted">since {formatDate(s.createdAt)}</span>{' '}
              <button
                type="button"
                className="link"
                aria-label={`Remove the browser subscribed via ${s.endpointOrigin} since ${formatDate(s.createdAt)}`}
                onClick={() => void removeOne(s.id)}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
