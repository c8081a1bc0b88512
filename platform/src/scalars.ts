import { GraphQLScalarType, Kind } from 'graphql';
import { badInput } from './errors.ts';

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw badInput('DateTime must be an ISO-8601 string');
  return date;
}

/** ISO-8601 date-time in UTC, shared by every subgraph. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'ISO-8601 date and time in UTC',
  serialize: (value) => {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput('DateTime must be an ISO-8601 string');
    return parseDateTime(ast.value);
  },
});

function parseBigInt(value: unknown): string {
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw badInput('BigInt must be a whole number as a decimal string');
}

/** A whole number too large for GraphQL's Int (token base units, bytes), as a decimal string. */
export const BigIntScalar = new GraphQLScalarType<string, string>({
  name: 'BigInt',
  serialize: (value) => {
    const text = typeof value === 'bigint' ? value.toString() : String(value);
    if (!/^-?\d+$/.test(text)) throw new TypeError('BigInt cannot represent a non-integer value');
    return text;
  },
  parseValue: (value) => parseBigInt(value),
  parseLiteral: (ast) => parseBigInt(ast.kind === Kind.STRING || ast.kind === Kind.INT ? ast.value : null),
});
