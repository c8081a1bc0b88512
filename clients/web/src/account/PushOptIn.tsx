/** Placeholder section of the account page; replaced by the feature that owns it. */
export function PushOptIn() {
  return (
    <section aria-label="Push notifications">
      <h2>Push notifications</h2>
    </section>
  );
}
