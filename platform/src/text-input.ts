import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, visit, type DocumentNode, type ValueNode } from 'graphql';

const NUL = '\u0000';

function literalHasNul(value: ValueNode): boolean {
  switch (value.kind) {
    case Kind.STRING:
      return value.value.includes(NUL);
    case Kind.LIST:
      return value.values.some(literalHasNul);
    case Kind.OBJECT:
      return value.fields.some((field) => literalHasNul(field.value));
    default:
      return false;
  }
}

function jsonHasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(NUL);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (jsonHasNul(item)) return true;
    return false;
  }
  for (const key in value) if (key.includes(NUL) || jsonHasNul((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** Per document (Apollo hands the same DocumentNode for the same text): the argument whose literal holds U+0000, or null. */
const literalFindings = new WeakMap<DocumentNode, string | null>();

function nulCharacterLiteral(document: DocumentNode): string | null {
  const known = literalFindings.get(document);
  if (known !== undefined) return known;
  let found: string | null = null;
  visit(document, {
    Argument(node) {
      if (!found && literalHasNul(node.value)) found = node.name.value;
      return false;
    },
  });
  literalFindings.set(document, found);
  return found;
}

/** The argument or variable of an operation whose text holds U+0000, or null. */
export function nulCharacterInput(document: DocumentNode, variables: Record<string, unknown>): string | null {
  for (const name in variables) if (jsonHasNul(variables[name])) return name;
  return nulCharacterLiteral(document);
}

/**
 * PostgreSQL text cannot hold U+0000, so such input would fail deep in SQL as an internal
 * error. Refused here, before any resolver runs, naming the argument or variable.
 */
export function textInputPlugin<Ctx extends object>(): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          const field = nulCharacterInput(document, request.variables ?? {});
          if (!field) return;
          throw new GraphQLError(`${field} may not contain the NUL character (U+0000)`, {
            extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } },
          });
        },
      };
    },
  };
}
