export {
  DEFAULT_LIMITS,
  DEFAULT_LIST_SIZE,
  SIZE_ARGUMENTS,
  analyzeOperation,
  checkLimits,
  type LimitName,
  type LimitViolation,
  type Limits,
  type OperationMeasures,
  type QueryLimits,
} from './analysis.ts';
export { DEFAULT_MAX_RESPONSE_BYTES, boundedStringify } from './response-size.ts';
export { assertWithinLimits, limitExceededError, limitsPlugin, resolveLimits, type LimitsPluginOptions } from './plugin.ts';
export {
  createRequestLimiter,
  rateLimitMessage,
  rateLimitedError,
  retryAfterHeader,
  sendRateLimited,
  type RateLimitVerdict,
  type RequestIdentity,
  type RequestLimiter,
  type RequestLimiterOptions,
  type WindowLimit,
} from './rate-limit.ts';
