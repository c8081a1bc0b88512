import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import type { GraphQLFormattedError } from 'graphql';

/** What a form shows: messages next to fields, and one for the form as a whole. */
export interface FormErrors {
  fields: Record<string, string>;
  form: string | null;
}

export const noErrors: FormErrors = { fields: {}, form: null };

/** Per form: which field a code's error belongs next to, and the words to use for it. */
export interface ErrorPlacement {
  /** A code (e.g. CONFLICT) → the field its message goes next to. */
  fieldFor?: Partial<Record<string, string>>;
  /** A code → the message a person should read instead of the server's. */
  messageFor?: Partial<Record<string, string>>;
}

const defaultMessages: Record<string, string> = {
  UNAUTHENTICATED: 'Please sign in again: your session has ended.',
  FORBIDDEN: 'Your account is not allowed to do this.',
  NOT_FOUND: 'We could not find that. It may have been removed.',
  RATE_LIMITED: 'Too many attempts. Please wait a moment and try again.',
  INSUFFICIENT_FUNDS: 'Not enough available cash for this.',
  PLAN_LIMIT_REACHED: 'Your plan’s limit is reached for this month.',
  INTERNAL_SERVER_ERROR: 'Something went wrong on our side. Please try again.',
};

/** Codes whose server message is written for people (it names the field and the rule). */
const serverWordsFor = new Set(['BAD_USER_INPUT', 'CONFLICT', 'INSUFFICIENT_FUNDS', 'PLAN_LIMIT_REACHED', 'UNAUTHENTICATED', 'NOT_FOUND']);

function graphQLErrorsOf(error: unknown): readonly GraphQLFormattedError[] {
  if (CombinedGraphQLErrors.is(error)) return error.errors;
  if (ServerError.is(error)) {
    try {
      const body = JSON.parse(error.bodyText) as { errors?: GraphQLFormattedError[] };
      if (Array.isArray(body.errors)) return body.errors;
    } catch {
      // not a GraphQL body
    }
  }
  return [];
}

/** The contract code of an error (`extensions.code`), if any. */
export function errorCodeOf(error: unknown): string | undefined {
  const code = graphQLErrorsOf(error)[0]?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Turns an error from the graph into messages a person can act on, placed next to the right field. */
export function formErrors(error: unknown, placement: ErrorPlacement = {}): FormErrors {
  if (!error) return noErrors;
  const errors = graphQLErrorsOf(error);
  if (errors.length === 0) {
    return { fields: {}, form: 'We could not reach VibeStream. Check your connection and try again.' };
  }
  const result: FormErrors = { fields: {}, form: null };
  for (const e of errors) {
    const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'INTERNAL_SERVER_ERROR';
    const retryAfter = typeof e.extensions?.retryAfterSeconds === 'number' ? e.extensions.retryAfterSeconds : null;
    let message = placement.messageFor?.[code] ?? (serverWordsFor.has(code) ? e.message : (defaultMessages[code] ?? defaultMessages.INTERNAL_SERVER_ERROR!));
    if (code === 'RATE_LIMITED') message = retryAfter ? `Too many attempts. Try again in ${retryAfter} s.` : defaultMessages.RATE_LIMITED!;
    // BAD_USER_INPUT names its field (`input.title` → `title`).
    const named = typeof e.extensions?.field === 'string' ? e.extensions.field.replace(/^input\./, '') : undefined;
    const field = placement.fieldFor?.[code] ?? (code === 'BAD_USER_INPUT' ? named : undefined);
    if (field && !result.fields[field]) result.fields[field] = message;
    else result.form ??= message;
  }
  return result;
}
