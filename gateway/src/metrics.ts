import type { ApolloServerPlugin, BaseContext, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { unhandledErrors } from '@vibestream/platform';

/** Distinct client-chosen operation names given their own label value, besides the persisted documents' names. */
export const MAX_OPERATION_NAME_LABELS = 500;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.registerMetric(unhandledErrors);
  const httpDuration = new Histogram({
    name: 'vibestream_gateway_http_request_duration_seconds',
    help: 'HTTP requests served by the gateway',
    labelNames: ['route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const graphqlErrors = new Counter({
    name: 'vibestream_gateway_graphql_errors_total',
    help: 'GraphQL errors answered by the gateway, by code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const operations = new Counter({
    name: 'vibestream_gateway_operations_total',
    help: 'GraphQL operations served over HTTP, by operation name (capped, see MAX_OPERATION_NAME_LABELS), type and outcome (success, partial, error)',
    labelNames: ['operation_name', 'operation_type', 'outcome'] as const,
    registers: [registry],
  });
  const operationDuration = new Histogram({
    name: 'vibestream_gateway_operation_duration_seconds',
    help: 'Seconds from a GraphQL operation reaching Apollo to its response being ready',
    labelNames: ['operation_name', 'operation_type'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const subgraphFetchDuration = new Histogram({
    name: 'vibestream_gateway_subgraph_fetch_duration_seconds',
    help: 'HTTP fetches from the gateway to a subgraph (merged identical fetches count once)',
    labelNames: ['subgraph'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const subgraphFetchErrors = new Counter({
    name: 'vibestream_gateway_subgraph_fetch_errors_total',
    help: 'Subgraph fetches that failed: timeout, connection, or an HTTP status outside 2xx (http_4xx, http_5xx, ...)',
    labelNames: ['subgraph', 'kind'] as const,
    registers: [registry],
  });
  const websocketConnections = new Gauge({
    name: 'vibestream_gateway_websocket_connections',
    help: 'Open WebSocket connections (graphql-ws) on the gateway',
    registers: [registry],
  });
  const subscriptions = new Gauge({
    name: 'vibestream_gateway_subscriptions',
    help: 'Active live subscriptions on the gateway',
    registers: [registry],
  });
  const liveEventLag = new Histogram({
    name: 'vibestream_gateway_live_event_lag_seconds',
    help: "Seconds from a live event's publication (its occurredAt/executedAt/publishedAt, else its arrival at the gateway) to its delivery to a subscriber",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const entityCache = new Counter({
    name: 'vibestream_gateway_entity_cache_total',
    help: 'Entity cache lookups and changes, by subgraph: hit_memory, hit_shared, miss, stored; purged counts entries dropped',
    labelNames: ['subgraph', 'result'] as const,
    registers: [registry],
  });
  return {
    registry,
    entityCache,
    httpDuration,
    graphqlErrors,
    operations,
    operationDuration,
    subgraphFetchDuration,
    subgraphFetchErrors,
    websocketConnections,
    subscriptions,
    liveEventLag,
  };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,127}$/;

/**
 * Operation names are chosen by clients, so they are label values only within bounds: the names
 * of the persisted documents always, and the first `limit` other names seen; every later one is
 * `other`, an operation without a name `anonymous`.
 */
export class OperationNameLabels {
  private readonly known: ReadonlySet<string>;
  private readonly seen = new Set<string>();
  private readonly limit: number;

  constructor(known: Iterable<string> = [], limit = MAX_OPERATION_NAME_LABELS) {
    this.known = new Set(known);
    this.limit = limit;
  }

  /** The operation names declared in persisted documents' text. */
  static namesIn(documents: Iterable<string>): string[] {
    const names = new Set<string>();
    for (const text of documents) {
      try {
        for (const definition of parse(text, { noLocation: true }).definitions) {
          if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) names.add(definition.name.value);
        }
      } catch {
        // not GraphQL: Apollo refuses it when it is sent
      }
    }
    return [...names];
  }

  label(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (this.known.has(name) || this.seen.has(name)) return name;
    if (this.seen.size >= this.limit || !GRAPHQL_NAME.test(name)) return 'other';
    this.seen.add(name);
    return name;
  }
}

type Outcome = 'success' | 'partial' | 'error';

function outcomeOf(requestContext: GraphQLRequestContextWillSendResponse<BaseContext>): Outcome {
  const body = requestContext.response.body;
  const result = body.kind === 'single' ? body.singleResult : body.initialResult;
  if (!result.errors?.length) return 'success';
  return result.data ? 'partial' : 'error';
}

/**
 * Counts and times every GraphQL operation that arrives over HTTP: requestDidStart →
 * didResolveOperation (name and type) → willSendResponse (outcome, duration). Operations the
 * gateway runs for itself (live subscription lookups via executeOperation) are not counted.
 */
export function operationMetricsPlugin<Ctx extends BaseContext = BaseContext>(metrics: GatewayMetrics, names: OperationNameLabels): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart(requestContext) {
      if (!requestContext.request.http) return;
      const started = performance.now();
      let operationName: string | null = null;
      let operationType = 'unknown';
      return {
        async didResolveOperation(resolved) {
          operationName = resolved.operationName;
          operationType = resolved.operation?.operation ?? 'unknown';
        },
        async willSendResponse(done) {
          if (operationType === 'unknown') {
            // Refused before the operation resolved (validation, limits): read what the document says, if it parsed.
            const wanted = done.request.operationName;
            const operation = done.document?.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && (!wanted || d.name?.value === wanted)) as
              OperationDefinitionNode | undefined;
            operationName = operation?.name?.value ?? wanted ?? null;
            if (operation) operationType = operation.operation;
          }
          const name = names.label(operationName);
          const seconds = (performance.now() - started) / 1000;
          metrics.operationDuration.observe({ operation_name: name, operation_type: operationType }, seconds);
          metrics.operations.inc({
            operation_name: name,
            operation_type: operationType,
            outcome: outcomeOf(done as GraphQLRequestContextWillSendResponse<BaseContext>),
          });
        },
      };
    },
  };
}
