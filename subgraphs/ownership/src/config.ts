import { env, loadConfig, subgraphConfigShape } from '@vibestream/platform';

export const ownershipConfigShape = {
  ...subgraphConfigShape(4004),
  TAKER_FEE_BPS: env.intRange(50, 0, 1000).describe("The taker's fee on each trade, in basis points of its value (50 = 0.5%)."),
};

export type OwnershipConfig = ReturnType<typeof loadOwnershipConfig>;

export function loadOwnershipConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(ownershipConfigShape, source);
}
