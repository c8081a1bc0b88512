import { badInput } from './errors.ts';

// Every id a client can name (users, songs, orders, sessions, notifications ...) is a UUID.
// Ids are parsed here, at the resolver boundary, so a malformed one never reaches SQL.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical UUID (any version): ids from clients are checked before they reach SQL. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * The id as the database writes it (lower case), or null when `value` is not an id: for a lookup
 * whose answer for an unknown id is null, and for entity representations.
 */
export function idOrNull(value: unknown): string | null {
  return isUuid(value) ? value.toLowerCase() : null;
}

/** An id argument (`field` names it, e.g. `songId` or `input.songId`): the id, or BAD_USER_INPUT. */
export function parseId(value: unknown, field: string): string {
  const id = idOrNull(value);
  if (id === null) throw badInput(`${field} is not a valid id`, field);
  return id;
}

/** An optional id argument: absent stays absent, anything else is parsed as parseId. */
export function parseOptionalId(value: unknown, field: string): string | null {
  return value === null || value === undefined ? null : parseId(value, field);
}

/** A list of id arguments, each parsed as parseId; the message names the first bad one. */
export function parseIds(values: readonly unknown[], field: string): string[] {
  return values.map((value) => {
    const id = idOrNull(value);
    if (id === null) throw badInput(`${field}: ${JSON.stringify(String(value).slice(0, 60))} is not a valid id`, field);
    return id;
  });
}
