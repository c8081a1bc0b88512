import type { SubgraphModule } from '@vibestream/platform';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { ownershipSubgraph } from '@vibestream/ownership';
import { notificationsSubgraph } from '@vibestream/notifications';
import { paymentsSubgraph } from '@vibestream/payments';
import { campaignsSubgraph } from '@vibestream/campaigns';
import { loyaltySubgraph } from '@vibestream/loyalty';
import { discoverySubgraph } from '@vibestream/discovery';

/** Every subgraph that exists, in start order. The launcher, compose script and tests read this list. */
export const subgraphs: SubgraphModule[] = [
  identitySubgraph,
  catalogSubgraph,
  rewardsSubgraph,
  ownershipSubgraph,
  notificationsSubgraph,
  paymentsSubgraph,
  campaignsSubgraph,
  loyaltySubgraph,
  discoverySubgraph,
];
