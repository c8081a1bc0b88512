/** Upload limits of a plan; null means unlimited. Kept from billing.entitlements.changed.v1. */
export interface UploadLimits {
  planId: string;
  uploadsMonthly: number | null;
  storageBytes: number | null;
}

const GB = 1024 ** 3;

/** Everyone without a paid subscription is on FREE (payments.graphql). */
export const FREE_LIMITS: UploadLimits = { planId: 'FREE', uploadsMonthly: 3, storageBytes: 1 * GB };

/** A single file is never larger than this, whatever the plan. */
export const MAX_FILE_BYTES = 2 * GB;

export type UploadCheck = { ok: true } | { ok: false; reason: 'too-large' | 'monthly-limit' | 'storage-limit'; message: string };

export function checkUpload(input: { limits: UploadLimits; byteSize: number; uploadsThisMonth: number; storageUsedBytes: number }): UploadCheck {
  const { limits, byteSize, uploadsThisMonth, storageUsedBytes } = input;
  const perFile = Math.min(MAX_FILE_BYTES, limits.storageBytes ?? MAX_FILE_BYTES);
  if (byteSize > perFile) {
    return { ok: false, reason: 'too-large', message: `byteSize is over the ${limits.planId} plan's limit of ${perFile} bytes per file` };
  }
  if (limits.uploadsMonthly !== null && uploadsThisMonth >= limits.uploadsMonthly) {
    return { ok: false, reason: 'monthly-limit', message: `The ${limits.planId} plan allows ${limits.uploadsMonthly} uploads a month, all used` };
  }
  if (limits.storageBytes !== null && storageUsedBytes + byteSize > limits.storageBytes) {
    return { ok: false, reason: 'storage-limit', message: `The ${limits.planId} plan's storage (${limits.storageBytes} bytes) would be exceeded` };
  }
  return { ok: true };
}

/** Maps an entitlements list ({ key, limit }) to upload limits. */
export function limitsFromEntitlements(planId: string, entitlements: { key: string; limit: number | null }[]): UploadLimits {
  const find = (key: string) => entitlements.find((e) => e.key === key);
  const uploads = find('uploads.monthly');
  const storage = find('storage.bytes');
  return {
    planId,
    uploadsMonthly: uploads ? uploads.limit : FREE_LIMITS.uploadsMonthly,
    storageBytes: storage ? storage.limit : FREE_LIMITS.storageBytes,
  };
}
