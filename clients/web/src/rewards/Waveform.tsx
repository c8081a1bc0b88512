import type { KeyboardEvent, MouseEvent } from 'react';

/**
 * The song's waveform as its seek bar: one bar per peak, those already played highlighted. A
 * click seeks to that point; the arrow keys move 5 seconds.
 */
export function Waveform({ peaks, position, duration, onSeek }: { peaks: number[]; position: number; duration: number; onSeek: (seconds: number) => void }) {
  const played = duration > 0 ? position / duration : 0;
  const seekTo = (event: MouseEvent<HTMLDivElement>) => {
    const box = event.currentTarget.getBoundingClientRect();
    if (duration > 0 && box.width > 0) onSeek(Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * duration);
  };
  const onKey = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'ArrowRight') onSeek(Math.min(duration, position + 5));
    if (event.key === 'ArrowLeft') onSeek(Math.max(0, position - 5));
  };
  return (
    <div
      className="waveform"
      role="slider"
      tabIndex={0}
      aria-label="Seek"
      aria-valuemin={0}
      aria-valuemax={Math.round(duration)}
      aria-valuenow={Math.round(position)}
      onClick={seekTo}
      onKeyDown={onKey}
      data-testid="waveform"
    >
      {peaks.map((peak, i) => (
        <span key={i} className={i / peaks.length < played ? 'played' : undefined} style={{ height: `${Math.max(4, Math.round(peak * 100))}%` }} />
      ))}
    </div>
  );
}
