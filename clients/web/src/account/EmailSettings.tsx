/** Placeholder section of the account page; replaced by the feature that owns it. */
export function EmailSettings() {
  return (
    <section aria-label="Email address">
      <h2>Email address</h2>
    </section>
  );
}
