// The generated typed documents (clients/generated) sent to a gateway the way the web app sends
// them: the persisted document id first, the text only when the gateway does not know the id.
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export interface OperationError {
  message: string;
  extensions?: { code?: string; field?: string };
}

export interface OperationResult<TData> {
  data?: TData | null;
  errors?: OperationError[];
}

export class OperationFailed extends Error {
  readonly code: string | undefined;
  constructor(operation: string, errors: OperationError[]) {
    super(`${operation} failed: ${errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ')}`);
    this.code = errors[0]?.extensions?.code;
  }
}

function operationName(document: DocumentNode): string {
  const definition = document.definitions.find((d) => d.kind === 'OperationDefinition');
  return definition?.kind === 'OperationDefinition' ? (definition.name?.value ?? 'anonymous') : 'anonymous';
}

export type SendOperation = <TData, TVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  token?: string,
) => Promise<OperationResult<TData>>;

/** A client for the gateway at `graphqlUrl` (http://host:port/graphql). */
export function operationClient(graphqlUrl: string) {
  const send: SendOperation = async (document, variables, token) => {
    const post = async (body: Record<string, unknown>) => {
      const response = await fetch(graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ ...body, variables }),
      });
      return (await response.json()) as OperationResult<never>;
    };
    const id = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
    if (id) {
      const byId = await post({ documentId: id });
      if (!byId.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND')) return byId;
    }
    return post({ query: print(document) });
  };
  /** The operation's data; throws OperationFailed with the errors' codes otherwise. */
  const data = async <TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, token?: string): Promise<TData> => {
    const result = await send(document, variables, token);
    if (result.errors?.length || !result.data) throw new OperationFailed(operationName(document), result.errors ?? [{ message: 'no data' }]);
    return result.data;
  };
  return { send, data };
}

export type OperationClient = ReturnType<typeof operationClient>;
