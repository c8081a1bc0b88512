import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, type DocumentNode, type GraphQLSchema } from 'graphql';
import { ErrorCode } from '@vibestream/platform';
import { DEFAULT_LIMITS, analyzeOperation, checkLimits, type LimitViolation, type Limits, type OperationMeasures, type QueryLimits } from './analysis.ts';

/** Absent limits take the defaults (depth 12, aliases 30, cost 5000); 0 turns one off. */
export function resolveLimits(limits: Limits = {}): Required<Limits> {
  return {
    maxDepth: limits.maxDepth ?? DEFAULT_LIMITS.maxDepth,
    maxAliases: limits.maxAliases ?? DEFAULT_LIMITS.maxAliases,
    maxCost: limits.maxCost ?? DEFAULT_LIMITS.maxCost,
  };
}

/**
 * The error for an operation over a limit: BAD_USER_INPUT, naming the limit in
 * `extensions.limit` ('depth' | 'aliases' | 'cost') with `extensions.max` and `extensions.actual`.
 */
export function limitExceededError(violation: LimitViolation): GraphQLError {
  return new GraphQLError(violation.message, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, limit: violation.limit, max: violation.max, actual: violation.actual },
  });
}

/**
 * For paths outside Apollo Server's request pipeline (graphql-ws subscriptions): measures
 * the operation and throws {@link limitExceededError} for the first limit it breaks
 * (depth, then aliases, then cost). Call it after validation and before executing.
 * Returns the measures when the operation is within every limit.
 */
export function assertWithinLimits(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
  limits: QueryLimits = {},
): OperationMeasures {
  const measures = analyzeOperation(schema, document, operationName, variables, limits.directives);
  const [violation] = checkLimits(measures, resolveLimits(limits));
  if (violation) throw limitExceededError(violation);
  return measures;
}

export interface LimitsPluginOptions extends QueryLimits {
  /** Told about every refused operation (for logs and metrics). */
  onRejected?: (violation: LimitViolation, operationName: string | null) => void;
}

/**
 * An Apollo Server plugin that refuses an operation over the depth, alias or cost limit in
 * `didResolveOperation`: after parsing and validation, before the query plan runs, so no
 * subgraph is called. The answer is HTTP 400 with one BAD_USER_INPUT error naming the limit.
 */
export function limitsPlugin<Ctx extends BaseContext = BaseContext>(options: LimitsPluginOptions = {}): ApolloServerPlugin<Ctx> {
  const limits = resolveLimits(options);
  return {
    async requestDidStart() {
      return {
        async didResolveOperation(requestContext) {
          const measures = analyzeOperation(
            requestContext.schema,
            requestContext.document,
            requestContext.operationName,
            requestContext.request.variables,
            options.directives,
          );
          const [violation] = checkLimits(measures, limits);
          if (!violation) return;
          options.onRejected?.(violation, requestContext.operationName);
          const error = limitExceededError(violation);
          // Apollo Server takes the HTTP status from `extensions.http` and strips it from the answer.
          throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 400 } } });
        },
      };
    },
  };
}
