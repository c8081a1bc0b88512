import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/** The `extensions.code` values of the client contract (../shared/contract/README.md). */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  PLAN_LIMIT_REACHED: 'PLAN_LIMIT_REACHED',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const contractCodes = new Set<string>(Object.values(ErrorCode));
/** Codes graphql-js and Apollo Server raise for malformed requests; safe to show as they are. */
const requestCodes = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

export class AppError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.name = 'AppError';
  }
}

export const unauthenticated = (message = 'Authentication required') => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this') => new AppError(ErrorCode.FORBIDDEN, message);
/** Bad input names the offending field so a client can show the message next to it. */
export const badInput = (message: string, field?: string) => new AppError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
export const rateLimited = (message: string, retryAfterSeconds?: number) =>
  new AppError(ErrorCode.RATE_LIMITED, message, retryAfterSeconds ? { retryAfterSeconds } : {});

export function isSafeCode(code: unknown): code is string {
  return typeof code === 'string' && (contractCodes.has(code) || requestCodes.has(code));
}

/**
 * graphql-js's "Did you mean …?" taken off an error message (as Apollo Server's
 * hideSchemaDetailsFromClientErrors does): in production a suggestion spells out the schema
 * that introspection hides.
 */
export function withoutSuggestions(message: string): string {
  return message.replace(/ ?Did you mean(.+?)\?$/, '');
}

/**
 * Apollo `formatError`: contract errors pass through; anything else is logged and answered
 * as INTERNAL_SERVER_ERROR with no message, stack or SQL from the original error. With
 * `hideSuggestions`, no message carries "Did you mean …?" (Apollo's own option covers
 * validation only, not variables refused at execution).
 */
export function makeErrorFormatter(onUnexpected: (error: unknown, formatted: GraphQLFormattedError) => void, options: { hideSuggestions?: boolean } = {}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (isSafeCode(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      const { stacktrace: _s, exception: _e, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, ...(options.hideSuggestions ? { message: withoutSuggestions(formatted.message) } : {}), extensions };
    }
    if (code === ErrorCode.INTERNAL_SERVER_ERROR && formatted.message === 'Internal server error') return stripped(formatted);
    onUnexpected(error, formatted);
    return stripped(formatted);
  };
}

function stripped(formatted: GraphQLFormattedError): GraphQLFormattedError {
  return {
    message: 'Internal server error',
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
