/**
 * Contract files named after a capability rather than a subgraph (../shared/contract/<name>.graphql),
 * with the context that owns each and whether it has landed. test/contract.test.ts validates a
 * capability's operations against schema/api.graphql once it has landed: set `landed: true` in the
 * change that makes its operations servable.
 */
export const capabilityContracts: Record<string, { owner: string; landed: boolean }> = {
  'streaming.graphql': { owner: 'catalog', landed: true },
  'reach.graphql': { owner: 'notifications, identity', landed: true },
  'discovery.graphql': { owner: 'discovery', landed: true },
};
