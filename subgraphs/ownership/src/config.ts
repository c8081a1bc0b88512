import { loadConfig, subgraphConfigShape, z } from '@vibestream/platform';

export const ownershipConfigShape = {
  ...subgraphConfigShape(4004),
  TAKER_FEE_BPS: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(1000).default(50)).describe("The taker's fee on each trade, in basis points of its value (50 = 0.5%)."),
};

export type OwnershipConfig = ReturnType<typeof loadOwnershipConfig>;

export function loadOwnershipConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(ownershipConfigShape, source);
}
