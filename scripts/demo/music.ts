// Short, pleasant demo songs made in code: a plucked arpeggio over a soft pad and a bass note,
// one chord per bar, rendered to a mono WAV file.
import { encodeWav } from '@vibestream/catalog/wav';

export interface Tune {
  /** Beats per minute; a bar is four beats. */
  bpm: number;
  /** MIDI note of the key's root (60 is middle C). */
  root: number;
  /** One chord per bar, as semitones above the root (a triad, a seventh...). */
  chords: number[][];
  /** How many times the progression is played. */
  repeats: number;
}

export const SAMPLE_RATE = 16_000;

const frequency = (midi: number) => 440 * 2 ** ((midi - 69) / 12);

/** Adds a note to `out`: a few harmonics under an attack/decay envelope. */
function addNote(out: Float32Array, startSeconds: number, seconds: number, midi: number, gain: number, voice: 'pluck' | 'pad' | 'bass'): void {
  const start = Math.floor(startSeconds * SAMPLE_RATE);
  const length = Math.min(Math.floor(seconds * SAMPLE_RATE), out.length - start);
  const step = (2 * Math.PI * frequency(midi)) / SAMPLE_RATE;
  const attack = voice === 'pad' ? 0.25 * SAMPLE_RATE : 0.005 * SAMPLE_RATE;
  // The decay's exponential, one multiplication per sample.
  const decayPerSample = Math.exp(-1 / ((voice === 'pluck' ? 0.35 : voice === 'bass' ? 0.8 : 4) * SAMPLE_RATE));
  let decay = 1;
  // A rotating phasor (sin, cos) gives the fundamental; its harmonics follow from it.
  const stepSin = Math.sin(step);
  const stepCos = Math.cos(step);
  let sin = 0;
  let cos = 1;
  for (let i = 0; i < length; i++, decay *= decayPerSample) {
    const rise = Math.min(1, i / attack);
    const fall = decay * Math.min(1, (length - i) / (0.05 * SAMPLE_RATE));
    const second = 2 * sin * cos;
    const tone = voice === 'pluck' ? sin + 0.3 * second + 0.12 * sin * (3 - 4 * sin * sin) : sin + 0.1 * second;
    out[start + i]! += gain * rise * fall * tone;
    const next = sin * stepCos + cos * stepSin;
    cos = cos * stepCos - sin * stepSin;
    sin = next;
  }
}

/** The tune's samples, normalised, with a short fade in and out. */
export function renderTune(tune: Tune): Int16Array {
  const beat = 60 / tune.bpm;
  const bar = 4 * beat;
  const bars = tune.chords.length * tune.repeats;
  const out = new Float32Array(Math.ceil((bars * bar + 1) * SAMPLE_RATE));
  for (let n = 0; n < bars; n++) {
    const chord = tune.chords[n % tune.chords.length]!;
    const at = n * bar;
    for (const interval of chord) addNote(out, at, bar, tune.root + interval - 12, 0.12, 'pad');
    addNote(out, at, bar, tune.root + chord[0]! - 24, 0.35, 'bass');
    // Eighth-note arpeggio, up then down the chord an octave higher.
    const notes = [...chord, chord[0]! + 12];
    const pattern = [...notes, ...notes.slice(1, -1).reverse()];
    for (let k = 0; k < 8; k++) addNote(out, at + (k * beat) / 2, beat * 1.5, tune.root + pattern[k % pattern.length]!, 0.22, 'pluck');
  }
  let peak = 0;
  for (const sample of out) peak = Math.max(peak, Math.abs(sample));
  const fade = 0.5 * SAMPLE_RATE;
  const samples = new Int16Array(out.length);
  for (let i = 0; i < out.length; i++) {
    const edge = Math.min(1, i / fade, (out.length - 1 - i) / fade);
    samples[i] = Math.round((out[i]! / (peak || 1)) * edge * 0.8 * 32767);
  }
  return samples;
}

/** The tune as a WAV file ready to upload. */
export function tuneWav(tune: Tune): Buffer {
  return encodeWav(renderTune(tune), SAMPLE_RATE);
}
