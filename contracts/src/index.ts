// The event contracts, one module per producing context (import `@vibestream/contracts/<context>`).
// A contract's type names its version (`listen.completed.v1`); once published, a version never
// changes: snapshots/<type>.json holds its payload's JSON Schema and test/snapshots.test.ts fails
// when the contract no longer matches it. A changed payload is a new contract (`….v2`) beside the
// old one; `npm run snapshot -w contracts` writes the snapshot of a new version.
import type { EventContract } from '@vibestream/platform';
import * as campaigns from './campaigns.ts';
import * as catalog from './catalog.ts';
import * as identity from './identity.ts';
import * as loyalty from './loyalty.ts';
import * as ownership from './ownership.ts';
import * as payments from './payments.ts';
import * as rewards from './rewards.ts';

/** The producing contexts' modules, by context name. */
export const producers = { campaigns, catalog, identity, loyalty, ownership, payments, rewards } as const;

const isContract = (value: unknown): value is EventContract =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as EventContract).type === 'string' &&
  typeof (value as { payload?: { parse?: unknown } }).payload?.parse === 'function';

/** Every contract each module exports (published or consumed within its own context), with its producer. */
export function allContracts(): { producer: string; contract: EventContract }[] {
  return Object.entries(producers).flatMap(([producer, module]) =>
    Object.values(module)
      .filter(isContract)
      .map((contract) => ({ producer, contract })),
  );
}
