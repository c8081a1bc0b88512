import { useQuery } from '@apollo/client/react';
import { ForYouDocument, SongSimilarDocument } from '../../../generated/graphql.ts';
import { Link } from '../router.tsx';

/** The home page's "For you": the caller's recommendations, each with why. Signed-in only. */
export function ForYou() {
  const { data, error } = useQuery(ForYouDocument, { variables: { first: 10 }, fetchPolicy: 'cache-and-network' });
  if (error || !data || data.recommendedSongs.edges.length === 0) return null;
  return (
    <>
      <h2>For you</h2>
      <ul className="songs" aria-label="For you">
        {data.recommendedSongs.edges.map(({ node, reason }) => (
          <li key={node.id}>
            <Link to={`/songs/${node.id}`}>{node.title}</Link>{' '}
            <span className="muted">
              by {node.artist.name} · {reason}
            </span>
          </li>
        ))}
      </ul>
    </>
  );
}

/** A song page's "Similar": songs its listeners also listen to. */
export function Similar({ songId }: { songId: string }) {
  const { data } = useQuery(SongSimilarDocument, { variables: { songId, first: 10 } });
  const similar = data?.song?.similar ?? [];
  if (similar.length === 0) return null;
  return (
    <div className="card">
      <h2>Similar</h2>
      <ul className="songs" aria-label="Similar songs">
        {similar.map((song) => (
          <li key={song.id}>
            <Link to={`/songs/${song.id}`}>{song.title}</Link> <span className="muted">by {song.artist.name}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
