import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, Kind, parse } from 'graphql';
import type { GraphQLRequestTransform } from '@vibestream/platform';

/**
 * Refuses over HTTP, with 400, what Apollo's gateway executor would otherwise fail as an internal
 * error (HTTP 500): a document with no operation to run (an `operationName` it does not define, or
 * several operations and no name), and a subscription, which is served over graphql-ws only.
 */
export function operationGuardPlugin<Ctx extends BaseContext = BaseContext>(): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) {
            const message = request.operationName
              ? `Unknown operation named "${request.operationName}".`
              : 'Must provide operation name if query contains multiple operations.';
            throw new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } });
          }
          if (operation.operation === 'subscription') {
            throw new GraphQLError(SUBSCRIPTION_OVER_HTTP, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
          }
        },
      };
    },
  };
}

const SUBSCRIPTION_OVER_HTTP = 'Subscriptions are served over WebSocket (graphql-ws) at /graphql, not over HTTP';

/**
 * The same refusal of a document holding a subscription, before Apollo sees the request (a
 * runApolloRequest transform): graphql-js 16's validation throws on a subscription whose root
 * is conditional on a variable (`... @include(if: $on) { … }`), which Apollo answers 500, and no
 * plugin hook can answer before validation. Only text that names `subscription` is parsed.
 */
export const refuseSubscriptionDocuments: GraphQLRequestTransform = (request) => {
  const body = request.body as { query?: unknown } | undefined;
  const query = typeof body?.query === 'string' ? body.query : new URLSearchParams(request.search).get('query');
  if (query && /\bsubscription\b/.test(query) && holdsSubscription(query))
    return { error: { status: 400, code: 'BAD_REQUEST', message: SUBSCRIPTION_OVER_HTTP } };
  return { search: request.search, body: request.body };
};

function holdsSubscription(query: string): boolean {
  try {
    return parse(query, { noLocation: true }).definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === 'subscription');
  } catch {
    return false; // Apollo reports the syntax error
  }
}
