import { encodeWav } from '../src/domain/wav.ts';

/** A valid PCM WAV file of `seconds` of a sine tone, made in code for tests. */
export function makeWav(seconds: number, sampleRate = 8000): Buffer {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(Math.sin((2 * Math.PI * 440 * i) / sampleRate) * 12000);
  return encodeWav(samples, sampleRate);
}
