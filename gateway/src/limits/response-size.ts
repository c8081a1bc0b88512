import type { FormattedExecutionResult } from 'graphql';
import { ErrorCode } from '@vibestream/platform';

/** Bytes of JSON one answer may take; bounds what the cost estimate let through. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1_048_576;

/**
 * The last line behind the cost limit, as Apollo Server's `stringifyResult`: a result whose
 * JSON is over `maxBytes` (0: no ceiling) is answered with one error instead, BAD_USER_INPUT
 * with `extensions.limit = "responseBytes"`, `max` and `actual`, and none of its data. The
 * HTTP status stays the one Apollo chose (200): it is settled before the body is written.
 */
export function boundedStringify(maxBytes: number, onRefused?: (bytes: number) => void): (result: FormattedExecutionResult) => string {
  return (result) => {
    const json = JSON.stringify(result);
    if (maxBytes <= 0) return json;
    const bytes = Buffer.byteLength(json);
    if (bytes <= maxBytes) return json;
    onRefused?.(bytes);
    return JSON.stringify({
      errors: [
        {
          message: `Response size limit exceeded: the answer takes ${bytes} bytes; the maximum is ${maxBytes}. Ask for fewer items or fields.`,
          extensions: { code: ErrorCode.BAD_USER_INPUT, limit: 'responseBytes', max: maxBytes, actual: bytes },
        },
      ],
    });
  };
}
