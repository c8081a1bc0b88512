import { useState, type FormEvent } from 'react';
import { useQuery } from '@apollo/client/react';
import { SearchSongsDocument, TrendingSongsDocument } from '../../../generated/graphql.ts';
import { useSession } from '../auth/useSession.ts';
import { FormError } from '../components/Form.tsx';
import { formErrors } from '../errors.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { ForYou } from './Discovery.tsx';

export function Search() {
  const { search } = useLocation();
  const query = search.get('q') ?? '';
  const [text, setText] = useState(query);
  const session = useSession();
  const results = useQuery(SearchSongsDocument, { variables: { query, first: 20 }, skip: !query.trim() });
  const trending = useQuery(TrendingSongsDocument, { variables: { first: 10 }, skip: Boolean(query.trim()) });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(`/?q=${encodeURIComponent(text.trim())}`);
  };

  return (
    <section>
      <form className="search" role="search" onSubmit={submit}>
        <input aria-label="Search songs" placeholder="Search songs, artists, genres" value={text} onChange={(e) => setText(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      {query.trim() ? (
        <>
          <h2>Results for “{query}”</h2>
          {results.loading && <p className="muted">Searching…</p>}
          <FormError message={results.error ? formErrors(results.error).form : null} />
          {results.data && results.data.searchSongs.totalCount === 0 && <p className="muted">No published song matches.</p>}
          <ul className="songs" aria-label="Search results">
            {results.data?.searchSongs.edges.map(({ node }) => (
              <li key={node.id}>
                <Link to={`/songs/${node.id}`}>{node.title}</Link> <span className="muted">by {node.artist.name}</span>
              </li>
            ))}
          </ul>
        </>
      ) : (
        <>
          {session && <ForYou />}
          <h2>Trending this week</h2>
          {trending.data?.trendingSongs.length === 0 && <p className="muted">Nothing trending yet.</p>}
          <ul className="songs">
            {trending.data?.trendingSongs.map((song) => (
              <li key={song.id}>
                <Link to={`/songs/${song.id}`}>{song.title}</Link>{' '}
                <span className="muted">
                  by {song.artist.name} · {song.playCount} plays
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
