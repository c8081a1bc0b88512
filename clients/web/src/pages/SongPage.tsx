import { useQuery } from '@apollo/client/react';
import { SongDetailsDocument } from '../../../generated/graphql.ts';
import { FormError } from '../components/Form.tsx';
import { formatCents } from '../format.ts';
import { formErrors } from '../errors.ts';
import { Player } from '../rewards/Player.tsx';
import { Link } from '../router.tsx';
import { Similar } from './Discovery.tsx';

export function SongPage({ id }: { id: string }) {
  const { data, loading, error } = useQuery(SongDetailsDocument, { variables: { id } });
  if (loading) return <p className="muted">Loading…</p>;
  if (error) return <FormError message={formErrors(error).form} />;
  const song = data?.song;
  if (!song) return <p>This song does not exist or is not published yet.</p>;
  return (
    <section>
      <h1>{song.title}</h1>
      <p className="muted">
        by {song.artist.name} · {song.genre} · {song.durationSeconds ?? '?'} s · {song.playCount} plays
      </p>
      <Player song={song} />
      <div className="card">
        <h2>Market</h2>
        <p>
          Last trade {formatCents(song.market.lastTradePriceCents)} · {song.market.volume24h} shares traded today
          {song.market.offering && ` · offering at ${formatCents(song.market.offering.pricePerShareCents)} (${song.market.offering.sharesRemaining} left)`}
        </p>
        <Link to={`/songs/${song.id}/market`}>Open the market</Link>
      </div>
      <Similar songId={song.id} />
    </section>
  );
}
