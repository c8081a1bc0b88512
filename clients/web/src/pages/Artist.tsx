import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import {
  CreateArtistProfileDocument,
  CreateShareOfferingDocument,
  CreateSongDocument,
  MyArtistSongsDocument,
  PublishSongDocument,
  RequestSongUploadDocument,
  type MyArtistSongsQuery,
} from '../../../generated/graphql.ts';
import { Field, FormError } from '../components/Form.tsx';
import { formatCents, parseDollars } from '../format.ts';
import { formErrors, noErrors, type FormErrors } from '../errors.ts';
import { Link } from '../router.tsx';

type ArtistSong = NonNullable<NonNullable<MyArtistSongsQuery['me']>['artistProfile']>['songs']['edges'][number]['node'];

const audioTypes: Record<string, string> = { wav: 'audio/wav', mp3: 'audio/mpeg', ogg: 'audio/ogg', flac: 'audio/flac', m4a: 'audio/mp4', mp4: 'audio/mp4' };

/** The browser's type for the file, or one guessed from its extension (browsers leave some empty). */
function contentTypeOf(file: File): string {
  if (file.type.startsWith('audio/')) return file.type === 'audio/x-wav' || file.type === 'audio/wave' ? 'audio/wav' : file.type;
  return audioTypes[file.name.split('.').pop()?.toLowerCase() ?? ''] ?? file.type;
}

export function ArtistStudio() {
  const mine = useQuery(MyArtistSongsDocument, { fetchPolicy: 'cache-and-network' });
  if (mine.loading && !mine.data) return <p className="muted">Loading…</p>;
  const profile = mine.data?.me?.artistProfile;
  if (!profile) return <CreateProfile onDone={() => void mine.refetch()} />;
  return (
    <section>
      <h1>{profile.name}: studio</h1>
      <NewSong onDone={() => void mine.refetch()} />
      <h2>Your songs</h2>
      {profile.songs.totalCount === 0 && <p className="muted">No songs yet.</p>}
      <ul className="songs" data-testid="artist-songs">
        {profile.songs.edges.map(({ node }) => (
          <li key={node.id} className="card">
            <SongRow song={node} onDone={() => void mine.refetch()} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function CreateProfile({ onDone }: { onDone: () => void }) {
  const [create, { loading }] = useMutation(CreateArtistProfileDocument);
  const [form, setForm] = useState({ name: '', bio: '' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await create({ variables: { input: { name: form.name, bio: form.bio || null } } });
      onDone();
    } catch (error) {
      setErrors(formErrors(error, { messageFor: { FORBIDDEN: 'Only artist accounts can create an artist profile.' } }));
    }
  };
  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Your artist profile</h1>
      <Field label="Artist name" value={form.name} error={errors.fields.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
      <Field label="Bio (optional)" value={form.bio} error={errors.fields.bio} onChange={(e) => setForm({ ...form, bio: e.target.value })} />
      <FormError message={errors.form} />
      <button type="submit" disabled={loading}>
        Create profile
      </button>
    </form>
  );
}

/** Creates the song, sends the audio with PUT to the signed upload URL, then publishes it. */
function NewSong({ onDone }: { onDone: () => void }) {
  const [createSong] = useMutation(CreateSongDocument);
  const [requestUpload] = useMutation(RequestSongUploadDocument);
  const [publish] = useMutation(PublishSongDocument);
  const [form, setForm] = useState({ title: '', genre: '' });
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [step, setStep] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    if (!file) return setErrors({ fields: { file: 'Choose an audio file (WAV, MP3, OGG, FLAC or M4A).' }, form: null });
    setErrors(noErrors);
    try {
      setStep('Creating the song');
      const created = await createSong({ variables: { input: { title: form.title, genre: form.genre } } });
      const songId = created.data!.createSong.id;
      setStep('Uploading the audio');
      const ticket = await requestUpload({ variables: { songId, contentType: contentTypeOf(file), byteSize: file.size } });
      const upload = await fetch(ticket.data!.requestSongUpload.uploadUrl, { method: 'PUT', headers: { 'content-type': contentTypeOf(file) }, body: file });
      if (!upload.ok) throw new UploadFailed(upload.status);
      setStep('Publishing');
      const published = await publish({ variables: { songId } });
      setDone(`“${form.title}” is published (${published.data?.publishSong.durationSeconds ?? '?'} s).`);
      setForm({ title: '', genre: '' });
      setFile(null);
      onDone();
    } catch (error) {
      if (error instanceof UploadFailed) setErrors({ fields: { file: `The upload was refused (HTTP ${error.status}). Try again.` }, form: null });
      else {
        const placed = formErrors(error, { messageFor: { PLAN_LIMIT_REACHED: 'Your plan’s upload limit is reached for this month.' } });
        // Upload-side errors name contentType/byteSize/songId: they are about the file.
        const { contentType, byteSize, songId, ...rest } = placed.fields;
        const fileMessage = contentType ?? byteSize ?? songId;
        setErrors({ fields: fileMessage ? { ...rest, file: fileMessage } : rest, form: placed.form });
      }
      onDone();
    } finally {
      setStep(null);
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate aria-label="New song">
      <h2>Upload a song</h2>
      <Field label="Title" value={form.title} error={errors.fields.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
      <Field label="Genre" value={form.genre} error={errors.fields.genre} onChange={(e) => setForm({ ...form, genre: e.target.value })} />
      <Field label="Audio file" type="file" accept="audio/*" error={errors.fields.file} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      <FormError message={errors.form} />
      {step && (
        <p role="status" className="progress">
          <progress /> {step}…
        </p>
      )}
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      <button type="submit" disabled={step !== null}>
        Upload and publish
      </button>
    </form>
  );
}

class UploadFailed extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`upload answered ${status}`);
    this.status = status;
  }
}

function SongRow({ song, onDone }: { song: ArtistSong; onDone: () => void }) {
  const offering = song.market.offering;
  return (
    <>
      <h3>
        {song.status === 'PUBLISHED' ? <Link to={`/songs/${song.id}`}>{song.title}</Link> : song.title}{' '}
        <span className="muted">{song.status.toLowerCase()}</span>
      </h3>
      <p className="muted">
        {song.genre} · {song.durationSeconds ?? '?'} s
      </p>
      {offering ? (
        <p data-testid="offering">
          Offering {offering.status.toLowerCase()}: {offering.sharesRemaining} of {offering.totalShares} shares left at{' '}
          {formatCents(offering.pricePerShareCents)} · {offering.revenueShareBps / 100}% of revenue · <Link to={`/songs/${song.id}/market`}>market</Link>
        </p>
      ) : song.status === 'PUBLISHED' ? (
        <OfferingForm songId={song.id} onDone={onDone} />
      ) : null}
    </>
  );
}

function OfferingForm({ songId, onDone }: { songId: string; onDone: () => void }) {
  const [create, { loading }] = useMutation(CreateShareOfferingDocument);
  const [form, setForm] = useState({ totalShares: '1000', price: '1.00', revenueSharePercent: '10' });
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const fields: Record<string, string> = {};
    const totalShares = Number(form.totalShares);
    const pricePerShareCents = parseDollars(form.price);
    const revenueShareBps = Math.round(Number(form.revenueSharePercent) * 100);
    if (!Number.isInteger(totalShares) || totalShares < 1) fields.totalShares = 'Enter a whole number of shares.';
    if (!(pricePerShareCents > 0)) fields.pricePerShareCents = 'Enter a price in dollars, such as 2.50.';
    if (!(revenueShareBps > 0)) fields.revenueShareBps = 'Enter a percentage between 0.01 and 50.';
    if (Object.keys(fields).length) return setErrors({ fields, form: null });
    try {
      await create({ variables: { input: { songId, totalShares, pricePerShareCents, revenueShareBps } } });
      onDone();
    } catch (error) {
      setErrors(
        formErrors(error, {
          messageFor: { CONFLICT: 'This song already has an offering.', NOT_FOUND: 'The market is still listing this song. Try again in a few seconds.' },
        }),
      );
    }
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Open an offering">
      <h4>Open an offering</h4>
      <div className="columns">
        <Field
          label="Shares"
          inputMode="numeric"
          value={form.totalShares}
          error={errors.fields.totalShares}
          onChange={(e) => setForm({ ...form, totalShares: e.target.value })}
        />
        <Field
          label="Price per share ($)"
          inputMode="decimal"
          value={form.price}
          error={errors.fields.pricePerShareCents}
          onChange={(e) => setForm({ ...form, price: e.target.value })}
        />
        <Field
          label="Revenue shared with holders (%)"
          inputMode="decimal"
          value={form.revenueSharePercent}
          error={errors.fields.revenueShareBps}
          onChange={(e) => setForm({ ...form, revenueSharePercent: e.target.value })}
        />
      </div>
      <FormError message={errors.form} />
      <button type="submit" disabled={loading}>
        Open offering
      </button>
    </form>
  );
}
