import { loadConfig, subgraphConfigShape } from '@vibestream/platform';

export const loyaltyConfigShape = {
  ...subgraphConfigShape(4008),
};

export type LoyaltyConfig = ReturnType<typeof loadLoyaltyConfig>;

export function loadLoyaltyConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(loyaltyConfigShape, source);
}
