// The demo content `npm start` seeds on a fresh database: who, which songs, what is for sale.
import type { Tune } from './music.ts';

/** Every demo account's password (development only; the start banner prints it). */
export const DEMO_PASSWORD = 'vibestream-demo';

export interface DemoSong {
  title: string;
  genre: string;
  tune: Tune;
  /** An open share offering of this song's revenue. */
  offering?: { totalShares: number; pricePerShareCents: number; revenueShareBps: number };
}

export interface DemoArtist {
  email: string;
  displayName: string;
  name: string;
  bio: string;
  songs: DemoSong[];
}

export interface DemoFan {
  email: string;
  displayName: string;
  /** Deposited by card into the fan's trading account (through the local Stripe stand-in). */
  depositCents: number;
}

const MAJOR = [
  [0, 4, 7],
  [7, 11, 14],
  [9, 12, 16],
  [5, 9, 12],
];
const MINOR = [
  [0, 3, 7],
  [-4, 0, 3],
  [3, 7, 10],
  [-2, 2, 5],
];
const DREAMY = [
  [0, 4, 7, 11],
  [5, 9, 12, 16],
  [2, 5, 9, 12],
  [7, 11, 14, 17],
];

/** The artist whose credentials the banner prints comes first. */
export const demoArtists: DemoArtist[] = [
  {
    email: 'artist@vibestream.test',
    displayName: 'Aurora Lane',
    name: 'Aurora Lane',
    bio: 'Dream pop written and recorded in a bedroom studio by the sea.',
    songs: [
      {
        title: 'Morning Light',
        genre: 'Dream Pop',
        tune: { bpm: 100, root: 60, chords: MAJOR, repeats: 2 },
        offering: { totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 2000 },
      },
      { title: 'Paper Boats', genre: 'Dream Pop', tune: { bpm: 88, root: 67, chords: DREAMY, repeats: 2 } },
    ],
  },
  {
    email: 'tidelines@vibestream.test',
    displayName: 'The Tidelines',
    name: 'The Tidelines',
    bio: 'A three-piece from the harbour town, all reverb and late trains.',
    songs: [
      {
        title: 'Harbour Lights',
        genre: 'Indie',
        tune: { bpm: 92, root: 57, chords: MINOR, repeats: 2 },
        offering: { totalShares: 500, pricePerShareCents: 250, revenueShareBps: 1500 },
      },
      { title: 'Salt and Static', genre: 'Indie', tune: { bpm: 112, root: 62, chords: MINOR, repeats: 3 } },
    ],
  },
  {
    email: 'juniper@vibestream.test',
    displayName: 'Juniper Hall',
    name: 'Juniper Hall',
    bio: 'Slow ambient pieces for long evenings.',
    songs: [
      { title: 'Slow Orbit', genre: 'Ambient', tune: { bpm: 72, root: 65, chords: DREAMY, repeats: 1 } },
      { title: 'Lanterns', genre: 'Ambient', tune: { bpm: 80, root: 63, chords: MAJOR, repeats: 2 } },
    ],
  },
];

export const demoFan: DemoFan = { email: 'fan@vibestream.test', displayName: 'Demo Fan', depositCents: 50_000 };

/**
 * Listeners who play the demo songs once the seed has made them, so trending has something to
 * rank on a fresh machine: the demo fan and these. A listener has one session open at a time, so
 * each plays their songs one after another, all listeners at once.
 */
export const demoListeners: { email: string; displayName: string }[] = [1, 2, 3, 4, 5].map((n) => ({
  email: `listener${n}@vibestream.test`,
  displayName: `Demo Listener ${n}`,
}));

/** How many demo listeners play each demo song, by title (songs not named are not played). */
export const demoPlays: Record<string, number> = {
  'Harbour Lights': 3,
  'Morning Light': 3,
  'Slow Orbit': 2,
  'Salt and Static': 2,
  'Paper Boats': 1,
  Lanterns: 1,
};
