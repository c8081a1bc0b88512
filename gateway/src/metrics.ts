import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
  return { registry, httpDuration, graphqlErrors };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
