import { useEffect, useState, type RefObject } from 'react';
import { useApolloClient } from '@apollo/client/react';
import Hls from 'hls.js';
import { WebSongStreamDocument } from '../../../generated/graphql.ts';

export type StreamSource =
  { kind: 'original' } | { kind: 'starting' } | { kind: 'hls'; maxBitrateKbps: number; currentKbps: number | null } | { kind: 'failed'; message: string };

/**
 * Plays a song's HLS stream in `audio` with hls.js (Chromium and Firefox have no native HLS;
 * Safari plays it itself): a session from songStream, whose master lists only the renditions the
 * listener's plan allows, so hls.js adapts to the bandwidth up to that limit. The segments are
 * AES-128 encrypted; hls.js fetches the session's signed key URL. `enabled` false (anonymous, or
 * no READY stream) leaves the audio element to play the original from `fallbackSrc`.
 */
export function useHlsAudio(audio: RefObject<HTMLAudioElement | null>, songId: string, enabled: boolean, fallbackSrc: string | null): StreamSource {
  const client = useApolloClient();
  const [source, setSource] = useState<StreamSource>(enabled ? { kind: 'starting' } : { kind: 'original' });

  useEffect(() => {
    const element = audio.current;
    if (!element) return;
    if (!enabled) {
      if (fallbackSrc) element.src = fallbackSrc;
      setSource({ kind: 'original' });
      return;
    }
    let hls: Hls | null = null;
    let cancelled = false;
    setSource({ kind: 'starting' });
    client
      .query({ query: WebSongStreamDocument, variables: { songId }, fetchPolicy: 'no-cache' })
      .then(({ data }) => {
        if (cancelled || !data) return;
        const { masterPlaylistUrl, maxBitrateKbps } = data.songStream;
        const url = new URL(masterPlaylistUrl, window.location.href).href;
        if (Hls.isSupported()) {
          hls = new Hls({ enableWorker: true, startLevel: -1 });
          hls.on(Hls.Events.LEVEL_SWITCHED, (_event, { level }) => {
            const bitrate = hls?.levels[level]?.bitrate;
            setSource({ kind: 'hls', maxBitrateKbps, currentKbps: bitrate ? Math.round(bitrate / 1100) : null });
          });
          hls.on(Hls.Events.ERROR, (_event, error) => {
            if (error.fatal) setSource({ kind: 'failed', message: `The stream failed (${error.details}).` });
          });
          hls.loadSource(url);
          hls.attachMedia(element);
        } else if (element.canPlayType('application/vnd.apple.mpegurl')) {
          element.src = url;
        } else {
          if (fallbackSrc) element.src = fallbackSrc;
          setSource({ kind: 'original' });
          return;
        }
        setSource({ kind: 'hls', maxBitrateKbps, currentKbps: null });
      })
      .catch(() => {
        if (cancelled) return;
        // No session (rate limited, not ready): the original still plays.
        if (fallbackSrc) element.src = fallbackSrc;
        setSource({ kind: 'original' });
      });
    return () => {
      cancelled = true;
      hls?.destroy();
    };
  }, [audio, client, songId, enabled, fallbackSrc]);

  return source;
}
