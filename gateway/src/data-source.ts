import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError } from 'graphql';
import { REQUEST_ID_HEADER } from '@vibestream/platform';
import type { GatewayContext } from './context.ts';

const httpAgent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1_000 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 256 });

/**
 * Sends subgraph fetches over keep-alive sockets with plain `http.request`: none of the
 * default fetcher's per-request Request/Headers objects or stack traces. Forwards the caller's
 * bearer token (each subgraph verifies it again), the request id and the client address.
 */
export class SubgraphDataSource implements GraphQLDataSource<GatewayContext> {
  readonly name: string;
  private readonly url: URL;
  private readonly timeoutMs: number;

  constructor(name: string, url: string, timeoutMs: number) {
    this.name = name;
    this.url = new URL(url);
    this.timeoutMs = timeoutMs;
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const { request } = options;
    const context = options.context as Partial<GatewayContext>;
    const body = JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (context.authorization) headers.authorization = context.authorization;
    if (context.requestId) headers[REQUEST_ID_HEADER] = context.requestId;
    if (context.clientAddress) headers['x-forwarded-for'] = context.clientAddress;
    return this.post(body, headers);
  }

  private post(body: string, headers: Record<string, string | number>): Promise<GatewayGraphQLResponse> {
    const https = this.url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname + this.url.search,
          method: 'POST',
          headers,
          agent: https ? httpsAgent : httpAgent,
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: GatewayGraphQLResponse | null = null;
            try {
              parsed = JSON.parse(text) as GatewayGraphQLResponse;
            } catch {
              // handled below
            }
            if (parsed && typeof parsed === 'object' && ('data' in parsed || 'errors' in parsed)) return resolve(parsed);
            reject(new GraphQLError(`Subgraph ${this.name} answered HTTP ${res.statusCode} without a GraphQL response`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`Subgraph ${this.name} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
