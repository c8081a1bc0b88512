/** Placeholder section of the account page; replaced by the feature that owns it. */
export function NotificationChannels() {
  return (
    <section aria-label="Notification channels">
      <h2>Notification channels</h2>
    </section>
  );
}
