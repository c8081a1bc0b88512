import { useEffect, useRef, useState } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import {
  CompleteListenSessionDocument,
  ListenHeartbeatDocument,
  RewardPoolDocument,
  StartListenSessionDocument,
  type ListenRejectionReason,
  type SongDetailsQuery,
} from '../../../generated/graphql.ts';
import { useSession } from '../auth/useSession.ts';
import { formErrors } from '../errors.ts';
import { formatTokens } from '../format.ts';
import { Link } from '../router.tsx';
import { useHlsAudio } from './HlsAudio.tsx';
import { Waveform } from './Waveform.tsx';
import { newVoucherSecrets } from './secrets.ts';
import { removeVoucher, saveVoucher, updateVoucher } from './vault.ts';

type Song = NonNullable<SongDetailsQuery['song']>;

type ListenState =
  | { kind: 'idle' }
  | { kind: 'listening'; listenedSeconds: number }
  | { kind: 'completing' }
  | { kind: 'rewarded'; amount: string }
  | { kind: 'rejected'; reason: ListenRejectionReason }
  | { kind: 'unrewarded'; message: string };

const rejectionText: Record<ListenRejectionReason, string> = {
  TOO_SHORT: 'This listen was too short to earn a reward.',
  HEARTBEAT_GAP: 'Playback was interrupted for too long to count as a listen.',
  SELF_LISTEN: 'Artists do not earn rewards for listening to their own songs.',
  DAILY_CAP: 'You have reached today’s reward limit. Come back tomorrow!',
  SONG_DAILY_CAP: 'You have reached today’s reward limit for this song.',
  POOL_EXHAUSTED: 'Today’s reward pool is used up. Come back tomorrow!',
  DUPLICATE_COMMITMENT: 'This voucher was already issued.',
};

/**
 * Plays a song (its HLS stream for a signed-in listener once transcoded, adapting up to their
 * plan's bitrate; else the original from its signed streamUrl) with its waveform as the seek bar
 * and, for a signed-in listener, turns the playback into
 * a rewarded listen: a session on play, heartbeats with the playback position while playing,
 * and completion with a fresh commitment when the song ends. The voucher's secrets are kept in
 * IndexedDB before the completion is sent.
 */
export function Player({ song }: { song: Song }) {
  const session = useSession();
  const audio = useRef<HTMLAudioElement>(null);
  const pool = useQuery(RewardPoolDocument);
  const [start] = useMutation(StartListenSessionDocument);
  const [heartbeat] = useMutation(ListenHeartbeatDocument);
  const [complete] = useMutation(CompleteListenSessionDocument);
  const [state, setState] = useState<ListenState>({ kind: 'idle' });
  const [playing, setPlaying] = useState(false);
  const [clock, setClock] = useState({ position: 0, duration: song.durationSeconds ?? 0 });
  const hlsReady = Boolean(session) && song.stream?.status === 'READY';
  const source = useHlsAudio(audio, song.id, hlsReady, song.streamUrl ?? null);
  const peaks = song.stream?.status === 'READY' ? song.stream.waveform : [];
  const listen = useRef<{ sessionId: Promise<string | null>; timer?: ReturnType<typeof setInterval>; done: boolean } | null>(null);

  const intervalMs = (pool.data?.rewardPool.heartbeatIntervalSeconds ?? 15) * 1000;
  const position = () => Math.floor(audio.current?.currentTime ?? 0);

  const beat = async (positionSeconds: number) => {
    const sessionId = await listen.current?.sessionId;
    if (!sessionId) return;
    const { data } = await heartbeat({ variables: { sessionId, positionSeconds } });
    if (data && !listen.current?.done) setState({ kind: 'listening', listenedSeconds: data.listenHeartbeat.listenedSeconds });
  };

  const stopBeats = () => {
    if (listen.current?.timer) clearInterval(listen.current.timer);
    if (listen.current) listen.current.timer = undefined;
  };

  const onPlay = () => {
    if (!session) return setState({ kind: 'unrewarded', message: 'Sign in to earn rewards for listening.' });
    if (!listen.current || listen.current.done) {
      const sessionId = start({ variables: { songId: song.id } })
        .then(({ data }) => data?.startListenSession.id ?? null)
        .catch((error: unknown) => {
          const message = formErrors(error, { messageFor: { NOT_FOUND: 'This song is not open for rewards yet; it plays without one.' } }).form;
          setState({ kind: 'unrewarded', message: message ?? 'This listen cannot earn a reward.' });
          // The next play tries again with a new session.
          if (listen.current?.sessionId === sessionId) listen.current.done = true;
          return null;
        });
      listen.current = { sessionId, done: false };
      setState({ kind: 'listening', listenedSeconds: 0 });
    }
    stopBeats();
    listen.current.timer = setInterval(() => void beat(position()).catch(() => undefined), intervalMs);
  };

  const onEnded = async () => {
    const current = listen.current;
    stopBeats();
    if (!current || current.done || !session) return;
    current.done = true;
    const sessionId = await current.sessionId;
    if (!sessionId) return;
    setState({ kind: 'completing' });
    try {
      await beat(Math.round(audio.current?.duration ?? position()));
      const secrets = newVoucherSecrets();
      await saveVoucher({ ...secrets, userId: session.userId, songId: song.id, songTitle: song.title, createdAt: new Date().toISOString(), state: 'pending' });
      const { data } = await complete({ variables: { sessionId, commitment: secrets.commitment } });
      const result = data?.completeListenSession;
      if (result?.voucher) {
        const { epoch, leafIndex, amount } = result.voucher;
        await updateVoucher(secrets.commitment, { state: 'issued', epoch, leafIndex, amount });
        setState({ kind: 'rewarded', amount });
      } else {
        await removeVoucher(secrets.commitment);
        setState(
          result?.rejectionReason ? { kind: 'rejected', reason: result.rejectionReason } : { kind: 'unrewarded', message: 'No reward for this listen.' },
        );
      }
    } catch (error) {
      setState({ kind: 'unrewarded', message: formErrors(error).form ?? 'Could not complete this listen.' });
    }
  };

  useEffect(() => () => stopBeats(), []);

  return (
    <div className="card player">
      {song.streamUrl || hlsReady ? (
        <>
          <audio
            ref={audio}
            controls={peaks.length === 0}
            preload="auto"
            onTimeUpdate={(event) => {
              const { currentTime, duration } = event.currentTarget;
              setClock((c) => ({ position: currentTime, duration: Number.isFinite(duration) && duration > 0 ? duration : c.duration }));
            }}
            onLoadedMetadata={(event) => {
              const { duration } = event.currentTarget;
              setClock((c) => ({ ...c, duration: Number.isFinite(duration) && duration > 0 ? duration : c.duration }));
            }}
            onPlay={() => {
              setPlaying(true);
              onPlay();
            }}
            onPause={() => {
              setPlaying(false);
              stopBeats();
            }}
            onEnded={() => void onEnded()}
            data-testid="player"
          />
          <button
            type="button"
            // Until the stream session is attached there is nothing to play yet.
            disabled={source.kind === 'starting'}
            onClick={() =>
              playing
                ? audio.current?.pause()
                : void audio.current?.play().catch(() => setState({ kind: 'unrewarded', message: 'This browser could not play the audio.' }))
            }
          >
            {playing ? 'Pause' : 'Play'}
          </button>
          {peaks.length > 0 && (
            <Waveform
              peaks={peaks}
              position={clock.position}
              duration={clock.duration}
              onSeek={(seconds) => {
                if (audio.current) audio.current.currentTime = seconds;
              }}
            />
          )}
          <p className="muted" data-testid="stream-source">
            {source.kind === 'hls' &&
              `Adaptive stream (HLS), up to ${source.maxBitrateKbps} kbps on your plan${source.currentKbps ? ` · playing ${source.currentKbps} kbps` : ''}`}
            {source.kind === 'starting' && 'Starting the stream…'}
            {source.kind === 'failed' && source.message}
            {source.kind === 'original' && song.stream?.status === 'READY' && !session && 'Sign in for the adaptive stream.'}
          </p>
        </>
      ) : (
        <p className="muted">No audio uploaded yet.</p>
      )}
      <div className="listen-status" aria-live="polite" data-testid="listen-status">
        {state.kind === 'listening' && <p>Listening… {state.listenedSeconds} s counted towards a reward.</p>}
        {state.kind === 'completing' && <p>Finishing your listen…</p>}
        {state.kind === 'rewarded' && (
          <p className="success">
            Listen complete: you earned a reward voucher worth {formatTokens(state.amount)}. <Link to="/rewards">Claim it in Rewards</Link>
          </p>
        )}
        {state.kind === 'rejected' && <p className="warning">{rejectionText[state.reason]}</p>}
        {state.kind === 'unrewarded' && <p className="warning">{state.message}</p>}
      </div>
    </div>
  );
}
