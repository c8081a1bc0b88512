import type { Connection, Edge } from '@vibestream/platform';
import type { CampaignStatus } from './domain/campaign.ts';

/** The rows campaigns reads from its tables, as the graph resolves them (codegen maps its types to these). */

export interface CampaignRow {
  id: string;
  song_id: string;
  artist_user_id: string;
  name: string;
  description: string | null;
  status: CampaignStatus;
  starts_at: Date;
  ends_at: Date;
  budget_cents: string;
  drop_name: string | null;
  drop_symbol: string | null;
  edition_size: number | null;
  min_listens: number | null;
  editions_claimed: number;
  contract_address: string | null;
  /** Set by an activation that deploys the drop's collection: DRAFT with it set = deployment pending. */
  deploy_requested_at: Date | null;
  deploy_tx_hash: string | null;
  deploy_nonce: string | null;
  deploy_address: string | null;
  deploy_raw_tx: string | null;
  deploy_error: string | null;
  created_at: Date;
}

export interface ParticipantRow {
  id: string;
  campaign_id: string;
  user_id: string;
  referral_code: string;
  referred_by: string | null;
  joined_at: Date;
}

export interface MintRow {
  campaign_id: string;
  edition_number: number;
  participant_id: string;
  user_id: string;
  wallet_address: string;
  status: 'PENDING' | 'MINTED';
  contract_address: string | null;
  tx_hash: string | null;
  minted_at: Date | null;
}

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
