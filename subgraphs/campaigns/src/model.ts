import type { Connection, Edge } from '@vibestream/platform';
import type { CampaignRow } from './store.ts';

/** The rows campaigns reads from its tables, as the graph resolves them (codegen maps its types to these): parsed in store.ts. */
export type { CampaignRow, MintRow, ParticipantRow } from './store.ts';

export interface EntityRef {
  id: string;
}

export type CampaignEdgeModel = Edge<CampaignRow>;
export type CampaignPage = Connection<CampaignRow>;

export type { CampaignAnalytics } from './domain/campaign.ts';

/** Whether the campaign waits for its collection's deployment to be confirmed before it is ACTIVE. */
export function deploymentPending(row: CampaignRow): boolean {
  return row.status === 'DRAFT' && row.deploy_requested_at !== null;
}
