// How `npm start` runs the demo seed: in the background once the gateway serves, never holding up
// or breaking start-up; what it prints for the demo accounts.
import type { Logger } from '@vibestream/platform';
import { DEMO_PASSWORD, demoArtists, demoFan } from './content.ts';
import { seedDemoContent } from './seed.ts';

export interface DemoSeedRun {
  /** Settles when the seed finished, failed or was stopped (never rejects). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts seeding; a failure is logged with what to do, and start-up goes on. */
export function startDemoSeed(options: { graphqlUrl: string; dataDir: string; databaseUrl: string; fundFan: boolean; log: Logger }): DemoSeedRun {
  const controller = new AbortController();
  const log = options.log;
  const done = seedDemoContent({ ...options, signal: controller.signal }).then(
    (seeded) => {
      if (!seeded) log.debug('demo content already seeded');
    },
    (error: unknown) => {
      if (controller.signal.aborted) return;
      log.error(
        { err: error instanceof Error ? error.message : String(error) },
        'demo content could not be seeded; the product runs without it (it is tried again at the next start; DEMO_SEED=off turns it off)',
      );
    },
  );
  return {
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

const dollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;

/** The lines the start banner adds about the demo accounts. */
export function demoBanner(options: { fanFunded: boolean }): string {
  const artist = demoArtists[0]!;
  const fanLine = options.fanFunded
    ? `a fan with ${dollars(demoFan.depositCents)} in their trading account`
    : 'a fan (not funded: card payments go to your Stripe account)';
  return [
    `  Demo accounts, password ${DEMO_PASSWORD} (demo content is added in the background on a fresh database):`,
    `    ${demoFan.email.padEnd(28)}${fanLine}`,
    `    ${artist.email.padEnd(28)}${artist.name}, an artist with songs and an open share offering`,
  ].join('\n');
}
