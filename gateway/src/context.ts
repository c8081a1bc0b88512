import type { Principal } from '@vibestream/platform';

/** Per-request context of the gateway: verified once here, forwarded to every subgraph fetch. */
export interface GatewayContext {
  requestId: string;
  principal: Principal | null;
  /** The caller's `Authorization` header, forwarded so each subgraph verifies the token itself. */
  authorization: string | null;
  clientAddress: string;
}
