// rewards on its own schema, for its use-case tests: testkit's openContext (migrations, Persistence,
// the real consumer fed with injected events) plus what rewards' services need around it, built as
// app.ts builds them, and a clock the tests move instead of sleeping. No gateway, no other context.
import { randomUUID } from 'node:crypto';
import { MemoryLiveEvents, ProjectionWaits, type Persistence, type Principal, type Role } from '@vibestream/platform';
import { openContext, type ContextHarness } from '@vibestream/testkit';
import { DEPTH, poseidon2 } from '@vibestream/circuits';
import { SongPublished } from '@vibestream/contracts/catalog';
import { loadRewardsConfig } from '../src/config.ts';
import { epochOf } from '../src/domain/listening.ts';
import { rewardsHandlers } from '../src/handlers.ts';
import { migrations } from '../src/migrations.ts';
import { RewardsService, type Payer } from '../src/service.ts';
import { EpochTrees } from '../src/tree.ts';
import type { ProofVerifierPool } from '../src/verifier.ts';
import { newVoucherSecrets } from './proofs.ts';

const DAY_MS = 86_400_000;

/**
 * The service's clock: real time, moved to noon of `epoch` (so no test straddles a day's end, and
 * services with different pools use different epochs), and forward by whatever `skip` adds. A
 * test that slept through the gateway skips here: the service sees the same wall-clock time pass.
 */
export class TestClock {
  readonly epoch: number;
  private offset: number;

  constructor(epoch: number) {
    this.epoch = epoch;
    this.offset = epoch * DAY_MS + DAY_MS / 2 - Date.now();
  }

  readonly now = (): Date => new Date(Date.now() + this.offset);

  skip(ms: number): void {
    this.offset += ms;
  }
}

/** Distinct past epochs for the services of one test file (their pools are per epoch). */
export const pastEpoch = (daysAgo: number) => epochOf(new Date()) - daysAgo;

/** rewards' schema with its real consumer running its real handlers. */
export async function openRewards(): Promise<ContextHarness> {
  const h = await openContext({ name: 'rewards', migrations });
  const defaults = loadRewardsConfig({ DATABASE_URL: h.database.url });
  h.consume(rewardsHandlers(h.db, { rewardPerListen: defaults.REWARD_PER_LISTEN, epochBudget: defaults.EPOCH_BUDGET }));
  return h;
}

/** A verifier for services whose tests make no claims: it must not be asked. */
export const noProofs = {
  verify: () => Promise.reject(new Error('this test verifies no proofs')),
  close: async () => {},
} as unknown as ProofVerifierPool;

/** A RewardsService as app.ts builds it, with these settings (as environment variables) and this clock. */
export function rewardsService(
  h: ContextHarness,
  options: { env: Record<string, string>; clock: TestClock; verifier?: ProofVerifierPool; payer?: Payer | null; db?: Persistence },
): RewardsService {
  const config = loadRewardsConfig({ DATABASE_URL: h.database.url, ...options.env });
  const live = new MemoryLiveEvents();
  return new RewardsService({
    db: options.db ?? h.db,
    config,
    trees: new EpochTrees(DEPTH, poseidon2, config.ROOT_HISTORY),
    verifier: options.verifier ?? noProofs,
    payer: options.payer ?? null,
    live,
    log: h.log,
    // Songs are injected and handled before they are used: nothing to wait for.
    projections: new ProjectionWaits({ group: 'rewards', timeoutMs: 0, live, log: h.log }),
    now: options.clock.now,
  });
}

export const as = (roles: Role[], userId = randomUUID()): Principal => ({ userId, roles, sessionId: 's', expiresAt: Date.now() / 1000 + 3600 });
export const fan = () => as(['FAN']);

/** The error code a resolver would answer with: the AppError's, or INTERNAL_SERVER_ERROR for anything else. */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
    return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
  }
}

/** A song catalog published (catalog.song.published.v1), handled by rewards' consumer; answers its id. */
export async function publishSong(h: ContextHarness, artist: Principal, durationSeconds: number, title = `Track ${Date.now()}`): Promise<string> {
  const songId = randomUUID();
  await h.inject(SongPublished, {
    songId,
    artistId: randomUUID(),
    artistUserId: artist.userId,
    title,
    genre: 'Test',
    durationSeconds,
    publishedAt: new Date().toISOString(),
  });
  return songId;
}

/** Listens to a whole short song with a heartbeat at its end (its length of wall-clock time later), then completes with a fresh commitment. */
export async function listenAndComplete(
  service: RewardsService,
  clock: TestClock,
  listener: Principal,
  songId: string,
  seconds: number,
  secrets = newVoucherSecrets(),
) {
  const session = await service.startSession(listener, songId);
  clock.skip(seconds * 1000 + 150);
  await service.heartbeat(listener, session.id, seconds);
  const result = await service.complete(listener, session.id, secrets.commitment.toString());
  return { sessionId: session.id, secrets, result };
}
