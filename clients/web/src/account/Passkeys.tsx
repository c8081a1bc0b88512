/** Placeholder section of the account page; replaced by the feature that owns it. */
export function Passkeys() {
  return (
    <section aria-label="Passkeys">
      <h2>Passkeys</h2>
    </section>
  );
}
