import { env, loadConfig, subgraphConfigShape } from '@vibestream/platform';

export const discoveryConfigShape = {
  ...subgraphConfigShape(4009),
  DISCOVERY_MIN_PAIR_LISTENERS: env
    .int(5, 5)
    .describe(
      "Distinct listeners (at least 5) who must have completed both songs of a pair before discovery uses it: no answer reveals one person's listening.",
    ),
  DISCOVERY_NEIGHBOUR_REFRESH_MS: env
    .int(250, 10)
    .describe(
      'How often (ms) discovery recomputes the neighbour rows of the songs that listens changed since the last pass, in batches: a song changed by many listens in that time is recomputed once.',
    ),
};

export type DiscoveryConfig = ReturnType<typeof loadDiscoveryConfig>;

export function loadDiscoveryConfig(source: NodeJS.ProcessEnv) {
  return loadConfig(discoveryConfigShape, source);
}
