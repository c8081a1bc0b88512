// The fuzzer's own guarantees, without a stack: every case can be made, and a seed makes the same
// requests every time (what FUZZ_SEED promises when a failure is to be sent again).
import { describe, expect, it } from 'vitest';
import { subgraphs } from '../../subgraphs/index.ts';
import { encodeRequest } from './http.ts';
import { escapesRoute } from './paths.ts';
import { Planner } from './plan.ts';
import type { World } from './world.ts';

const world = {
  modules: subgraphs,
  gatewayPort: 1,
  subgraphPorts: new Map(subgraphs.map((m, i) => [m.name, 2 + i])),
  known: {
    ids: { Song: ['6b0f7c1e-4d7a-4a57-9b1e-2f8f5d6c7a10'], User: ['5a0f7c1e-4d7a-4a57-9b1e-2f8f5d6c7a10'] },
    refreshTokens: ['r'],
    emails: ['a@example.com'],
  },
  apiKey: 'vsk_test',
  principals: {
    anonymous: null,
    fan: 'Bearer f',
    artist: 'Bearer a',
    admin: 'Bearer x',
    throwaway: 'Bearer t',
    unknownUser: 'Bearer u',
    expired: 'Bearer e',
    forged: 'Bearer g',
    wrongAudience: 'Bearer w',
  },
  missing: [],
} as unknown as World;

const bytesOf = (planner: Planner, index: number) => {
  const c = planner.case(index);
  return `${c.kind} ${c.target} ${c.principal}\n${encodeRequest(c.request).toString('latin1')}`;
};

describe('the fuzz plan', () => {
  it('makes 2,000 cases of every kind without throwing', () => {
    const planner = new Planner(world, 12345);
    const kinds = new Set<string>();
    for (let i = 0; i < 2_000; i++) kinds.add(planner.case(i).kind);
    expect([...kinds].sort()).toEqual(['amplify', 'contract', 'entities', 'forwarded', 'malformed', 'schema', 'websocket']);
  });

  it('is the same for the same seed, whatever was made before, and differs for another seed', () => {
    const a = new Planner(world, 7, 1_700_000_000_000);
    const b = new Planner(world, 7, 1_700_000_000_000);
    const first = Array.from({ length: 200 }, (_, i) => bytesOf(a, i));
    expect(bytesOf(b, 150)).toBe(first[150]);
    expect(Array.from({ length: 200 }, (_, i) => bytesOf(b, i))).toEqual(first);
    const other = new Planner(world, 8, 1_700_000_000_000);
    expect(Array.from({ length: 200 }, (_, i) => bytesOf(other, i))).not.toEqual(first);
  });

  it('knows the targets that must be refused on a forwarded route', () => {
    for (const path of [
      '/media/../graphql',
      '/media/%2e%2e/graphql',
      '/nft/%2E%2E/metrics',
      '/media/%252e%252e/x',
      '/webhooks/stripe/..%2fgraphql',
      '/media/a%5cb',
      '/media/a\\b',
      '/nft/./x',
    ])
      expect(escapesRoute(path), path).toBe(true);
    for (const path of ['/media/stream/abc?x=../..', '/nft/x/1', '/webhooks/stripe', '/media/..x/y', '/media/%c0%ae%c0%ae'])
      expect(escapesRoute(path), path).toBe(false);
  });
});
