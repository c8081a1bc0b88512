import type { TypedDocumentNode } from '@apollo/client';
import { print } from 'graphql';

export const GRAPHQL_PATH = '/graphql';

/** The id `npm run codegen` embeds in each generated document (`sha256:<hex>`), as the gateway's manifest names it. */
export function documentIdOf(document: unknown): string | undefined {
  const hash = (document as { __meta__?: { hash?: unknown } } | null)?.__meta__?.hash;
  return typeof hash === 'string' ? hash : undefined;
}

export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: unknown; field?: unknown; retryAfterSeconds?: unknown };
}

export interface TypedResult<TData> {
  data?: TData | null;
  errors?: GraphQLErrorShape[];
}

/**
 * One operation over plain fetch, outside Apollo (the session refresh must not go through the
 * auth link that waits for it). Sends the persisted document id first and the text only when
 * the gateway does not know the id, like the Apollo link chain does.
 */
export async function postOperation<TData, TVariables extends Record<string, unknown>>(
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<TypedResult<TData>> {
  const id = documentIdOf(document);
  const send = async (body: Record<string, unknown>): Promise<TypedResult<TData>> => {
    const response = await fetch(GRAPHQL_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ ...body, variables }),
    });
    return (await response.json()) as TypedResult<TData>;
  };
  if (id) {
    const byId = await send({ documentId: id });
    if (!byId.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND')) return byId;
  }
  return send({ query: print(document) });
}
