// The mix of requests: each index of a run becomes one case, from its own seed, so a run is the
// same sequence of requests whatever the answers were (ids come from the world's fixtures).
import { buildSchema, type GraphQLSchema } from 'graphql';
import { composeSupergraph } from '@vibestream/platform';
import { contractRequest, loadContract, type ContractOperation } from './contract.ts';
import { entitiesRequest, entityMap, type EntityType } from './entities.ts';
import type { RawRequest } from './http.ts';
import { malformedRequest } from './malformed.ts';
import type { Expectations } from './oracle.ts';
import { forwardedRouteRequest } from './paths.ts';
import { webSocketScript, type WebSocketScript } from './websocket.ts';
import { amplifyingCycles, amplifyingOperation, randomOperation } from './queries.ts';
import { Rng, requestSeed } from './rng.ts';
import type { ValueContext } from './values.ts';
import type { World } from './world.ts';

export type CaseKind = 'contract' | 'schema' | 'amplify' | 'entities' | 'malformed' | 'forwarded' | 'websocket';

export interface FuzzCase {
  index: number;
  seed: number;
  kind: CaseKind;
  /** `gateway` or a subgraph's name. */
  target: string;
  port: number;
  /** Whose credentials it carries (the name of one of the world's principals). */
  principal: string;
  /** What it is, in a few words (the contract operation, the route). */
  label: string;
  /** What is sent (for a graphql-ws case: the upgrade, with the script as its body, for the report). */
  request: RawRequest;
  /** The graphql-ws messages, for a case played on a WebSocket. */
  ws?: WebSocketScript;
  expect: Expectations;
}

const KINDS: [number, CaseKind][] = [
  [30, 'contract'],
  [22, 'schema'],
  [5, 'amplify'],
  [18, 'entities'],
  [15, 'malformed'],
  [12, 'forwarded'],
  [5, 'websocket'],
];

const PRINCIPALS: [number, string][] = [
  [4, 'anonymous'],
  [3, 'fan'],
  [3, 'artist'],
  [1, 'admin'],
  [1, 'throwaway'],
  [1, 'unknownUser'],
  [1, 'expired'],
  [1, 'forged'],
  [1, 'wrongAudience'],
];

/** Principals whose session must outlive the run: a request that logs out goes as another. */
const KEPT = new Set(['fan', 'artist', 'admin']);

export class Planner {
  readonly api: GraphQLSchema;
  readonly operations: ContractOperation[];
  private readonly cycles: ReturnType<typeof amplifyingCycles>;
  private readonly entities: Map<string, { own: EntityType[]; others: string[] }>;
  private readonly subgraphNames: string[];
  private readonly world: World;
  private readonly runSeed: number;
  private readonly now: number;

  /** `now`: the clock generated dates count from (the run's start). */
  constructor(world: World, runSeed: number, now = Date.now()) {
    this.world = world;
    this.runSeed = runSeed;
    this.now = now;
    this.api = buildSchema(composeSupergraph(world.modules).api);
    this.operations = loadContract(this.api);
    this.cycles = amplifyingCycles(this.api);
    this.entities = entityMap(world.modules, this.api);
    this.subgraphNames = [...world.subgraphPorts.keys()];
  }

  case(index: number): FuzzCase {
    const seed = requestSeed(this.runSeed, index);
    const rng = new Rng(seed);
    const ctx: ValueContext = { rng, known: this.world.known, now: this.now };
    const kind = rng.weighted(KINDS);
    let principal = rng.weighted(PRINCIPALS);
    const base = { index, seed, kind, target: 'gateway', port: this.world.gatewayPort, expect: {} as Expectations };
    switch (kind) {
      case 'contract': {
        const operation = rng.pick(this.operations);
        const body = contractRequest(ctx, operation);
        if (operation.name === 'Logout' && KEPT.has(principal)) principal = 'throwaway';
        return { ...base, principal, label: `${operation.file} ${operation.name}`, request: this.graphql(rng, body, principal) };
      }
      case 'schema':
      case 'amplify': {
        const body = (kind === 'amplify' ? amplifyingOperation(ctx, this.api, this.cycles) : null) ?? randomOperation(ctx, this.api);
        if (/\blogout\b/.test(body.query) && KEPT.has(principal)) principal = 'throwaway';
        // The artist sees its album's forty draft songs too: most amplifying queries go as the artist.
        if (kind === 'amplify' && rng.chance(0.7)) principal = 'artist';
        return { ...base, kind, principal, label: body.query.slice(0, 60), request: this.graphql(rng, body, principal) };
      }
      case 'entities': {
        const target = rng.pick(this.subgraphNames);
        const { own, others } = this.entities.get(target)!;
        const body = entitiesRequest(ctx, own, others);
        return {
          ...base,
          target,
          port: this.world.subgraphPorts.get(target)!,
          principal,
          label: `_entities on ${target}`,
          request: withAuthorization(
            { method: 'POST', path: '/graphql', headers: [['content-type', 'application/json']], body: Buffer.from(JSON.stringify(body)) },
            this.world.principals[principal] ?? null,
          ),
          expect: { internalAllowed: true },
        };
      }
      case 'malformed': {
        const where = rng.weighted([
          [15, 'gateway'],
          [2, 'public'],
          [3, 'subgraph'],
        ] as const);
        const target = where === 'subgraph' ? rng.pick(this.subgraphNames) : 'gateway';
        const request = malformedRequest(rng, where === 'public' ? '/public/graphql' : '/graphql');
        return {
          ...base,
          target,
          port: target === 'gateway' ? this.world.gatewayPort : this.world.subgraphPorts.get(target)!,
          principal: 'anonymous',
          label: `${request.method} ${where === 'public' ? '/public/graphql' : '/graphql'}`,
          request,
          expect: target === 'gateway' ? {} : { internalAllowed: true },
        };
      }
      case 'websocket': {
        if (KEPT.has(principal) && rng.chance(0.5)) principal = 'anonymous';
        const ws = webSocketScript(
          ctx,
          this.api,
          this.operations.filter((o) => o.kind === 'subscription'),
          this.world.principals[principal] ?? null,
        );
        return {
          ...base,
          principal,
          label: 'graphql-ws /graphql',
          request: { method: 'GET', path: '/graphql (graphql-ws)', headers: [], body: Buffer.from(JSON.stringify(ws)) },
          ws,
        };
      }
      case 'forwarded': {
        const ids = Object.values(this.world.known.ids).flat();
        const { request, expectStatus } = forwardedRouteRequest(rng, ids, this.now);
        return {
          ...base,
          principal: 'anonymous',
          label: `${request.method} ${request.path.slice(0, 80)}`,
          request,
          expect: expectStatus ? { status: expectStatus } : {},
        };
      }
    }
  }

  /** A GraphQL POST to the gateway: mostly /graphql; now and then the partners' /public/graphql with an API key. */
  private graphql(rng: Rng, body: unknown, principal: string): RawRequest {
    const request: RawRequest = { method: 'POST', path: '/graphql', headers: [['content-type', 'application/json']], body: Buffer.from(JSON.stringify(body)) };
    if (this.world.apiKey && rng.chance(0.1)) {
      request.path = '/public/graphql';
      request.headers.push(['x-api-key', rng.chance(0.8) ? this.world.apiKey : `${this.world.apiKey.slice(0, -2)}xx`]);
      return request;
    }
    return withAuthorization(request, this.world.principals[principal] ?? null);
  }
}

function withAuthorization(request: RawRequest, authorization: string | null): RawRequest {
  if (authorization) request.headers.push(['authorization', authorization]);
  return request;
}
