import { on, type EventHandler } from '@vibestream/platform';
import { UploadStored } from '@vibestream/catalog/events';
import { PaymentsService } from './service.ts';

/** payments' projections of other contexts' events, each in the transaction that marks it handled. */
export const paymentsHandlers: EventHandler[] = [
  // Usage behind entitlements' "used": uploads this month and stored bytes.
  on(UploadStored, (em, upload) => PaymentsService.recordUpload(em, upload)),
];
