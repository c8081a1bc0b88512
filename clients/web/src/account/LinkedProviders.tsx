/** Placeholder section of the account page; replaced by the feature that owns it. */
export function LinkedProviders() {
  return (
    <section aria-label="Linked sign-in providers">
      <h2>Linked sign-in providers</h2>
    </section>
  );
}
