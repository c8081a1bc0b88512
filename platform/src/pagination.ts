import { badInput } from './errors.ts';

export const MAX_PAGE_SIZE = 100;

/** Validates Relay `first` (capped at 100 by the contract). */
export function pageSize(first: number | null | undefined, fallback = 20): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 0 and ${MAX_PAGE_SIZE}`, 'first');
  }
  return size;
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string | null | undefined, isValid: (value: unknown) => value is T): T | null {
  if (!cursor) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (isValid(value)) return value;
  } catch {
    // fall through
  }
  throw badInput('after is not a valid cursor', 'after');
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Connection<T> {
  totalCount: number;
  edges: Edge<T>[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** A Relay connection from up to `first + 1` rows (the extra row only tells that a next page exists). */
export function toConnection<T>(rows: readonly T[], first: number, totalCount: number, cursorOf: (row: T) => unknown): Connection<T> {
  const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(cursorOf(node)), node }));
  return { totalCount, edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
