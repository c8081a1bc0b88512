// discovery through the gateway, with identity and catalog: the contract's operations
// (../shared/contract/discovery.graphql) as clients send them; listens injected as rewards publishes them.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse, print, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, eventually, mintToken, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { ListenCompleted } from '@vibestream/contracts/rewards';
import { catalogSubgraph } from '@vibestream/catalog';
import { makeWav, newArtist, publishedSong } from '@vibestream/catalog/testing';
import { identitySubgraph } from '@vibestream/identity';
import { discoverySubgraph } from '../src/index.ts';

const contract = parse(readFileSync(new URL('../../../../shared/contract/discovery.graphql', import.meta.url), 'utf8'));
/** One of the contract's operations, exactly as written there. */
const op = (name: string) => print(contract.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition' && d.name?.value === name)!);
const SIMILAR = op('SimilarSongs');
const RECOMMENDED = op('RecommendedSongs');
const RADIO = op('ArtistRadio');

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('discovery', [identitySubgraph, catalogSubgraph, discoverySubgraph]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

type Song = { id: string; title: string; artist: { id?: string; name?: string } };

describe('the contract operations through the gateway', () => {
  it('similar songs, recommendations with reasons, and an artist radio that never repeats', async () => {
    const artist = await newArtist(stack, 'Discovered Artist');
    const first = await publishedSong(stack, artist.token, { title: 'First Light', genre: 'Synthwave' }, makeWav(1, 4000));
    const second = await publishedSong(stack, artist.token, { title: 'Second Wind', genre: 'Synthwave' }, makeWav(1, 4000));
    const completedAt = new Date(Date.now() - 40 * 86_400_000).toISOString();
    for (let i = 0; i < 5; i++) {
      const userId = randomUUID();
      for (const songId of [first, second])
        await publishEvent(stack, ListenCompleted, { sessionId: randomUUID(), userId, songId, listenedSeconds: 1, completedAt });
    }

    const similar = await eventually(
      () => stack.gql<{ song: { id: string; similar: Song[] } }>(SIMILAR, { songId: first, first: 5 }),
      (r) => (r.data?.song.similar.length ?? 0) > 0,
    );
    expect(similar.errors).toBeUndefined();
    expect(similar.data!.song.similar).toEqual([{ id: second, title: 'Second Wind', artist: { name: 'Discovered Artist' } }]);

    const fan = randomUUID();
    await publishEvent(stack, ListenCompleted, {
      sessionId: randomUUID(),
      userId: fan,
      songId: first,
      listenedSeconds: 1,
      completedAt: new Date().toISOString(),
    });
    const token = await mintToken(stack.keys, { userId: fan });
    const recommended = await eventually(
      () => stack.gql<{ recommendedSongs: { edges: { node: Song; reason: string }[] } }>(RECOMMENDED, { first: 10 }, { token }),
      // Until the fan's listen is projected, cold start may also put `second` first ("trending now").
      (r) => r.data?.recommendedSongs.edges[0]?.node.id === second && r.data.recommendedSongs.edges[0].reason !== 'trending now',
    );
    expect(recommended.errors).toBeUndefined();
    expect(recommended.data!.recommendedSongs.edges[0]).toEqual({
      node: { id: second, title: 'Second Wind', artist: { id: artist.artistId, name: 'Discovered Artist' } },
      reason: 'because you listened to First Light',
    });
    expect(recommended.data!.recommendedSongs.edges.map((e) => e.node.id)).not.toContain(first);
    expect(errorCode(await stack.gql(RECOMMENDED, { first: 10 }))).toBe('UNAUTHENTICATED');

    type Radio = {
      artistRadio: { edges: { cursor: string; node: { id: string; artist: { id: string } } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
    };
    const page1 = await stack.gql<Radio>(RADIO, { artistId: artist.artistId, first: 1 }, { token });
    expect(page1.errors).toBeUndefined();
    const page2 = await stack.gql<Radio>(RADIO, { artistId: artist.artistId, first: 1, after: page1.data!.artistRadio.pageInfo.endCursor }, { token });
    const served = [...page1.data!.artistRadio.edges, ...page2.data!.artistRadio.edges].map((e) => e.node.id);
    expect(new Set(served)).toEqual(new Set([first, second]));
    expect(page1.data!.artistRadio.edges[0]!.node.artist.id).toBe(artist.artistId);
  }, 120_000);
});
