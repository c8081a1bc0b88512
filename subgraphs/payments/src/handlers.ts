import { on, type EventHandler } from '@vibestream/platform';
import { UploadStored } from '@vibestream/catalog/events';
import { WalletLinked } from '@vibestream/identity/events';
import { PaymentsService } from './service.ts';

/** payments' projections of other contexts' events, each in the transaction that marks it handled. */
export const paymentsHandlers: EventHandler[] = [
  // Usage behind entitlements' "used": uploads this month and stored bytes.
  on(UploadStored, (em, upload) => PaymentsService.recordUpload(em, upload)),
  // The wallets a user may fund USDC deposits from.
  on(WalletLinked, (em, wallet, envelope) => PaymentsService.recordLinkedWallet(em, wallet, envelope.occurredAt)),
];
