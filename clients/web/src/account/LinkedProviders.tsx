import { useQuery } from '@apollo/client/react';
import { MyLinkedProvidersDocument, SignInProvidersDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';

const formatDate = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

/** The account page's social sign-in providers: those linked to this account, and since when. */
export function LinkedProviders() {
  const { data, loading, error } = useQuery(MyLinkedProvidersDocument, { fetchPolicy: 'cache-and-network' });
  const { data: offered } = useQuery(SignInProvidersDocument, { fetchPolicy: 'cache-first' });
  const names = new Map((offered?.signInProviders ?? []).map((p) => [p.id, p.displayName]));
  const linked = data?.me?.linkedProviders ?? [];

  return (
    <section aria-label="Linked sign-in providers">
      <h2>Linked sign-in providers</h2>
      {error && <FormError message={formErrors(error).form} />}
      {loading && !data ? (
        <p className="muted">Loading…</p>
      ) : linked.length === 0 ? (
        <p className="muted">None yet. Signing in with a provider whose verified email is this account’s links it (an unverified one never does).</p>
      ) : (
        <ul className="plain">
          {linked.map((p) => (
            <li key={p.provider}>
              <strong>{names.get(p.provider) ?? p.provider}</strong> <span className="muted">linked {formatDate(p.linkedAt)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
