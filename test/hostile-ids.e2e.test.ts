// Issue 13, findings 1 and 6: entity representations and id arguments that are not ids. Every
// subgraph and the gateway run as `npm start` runs them, in this one process: a representation
// batch that ended the process is refused, a malformed id is BAD_USER_INPUT naming its argument
// (or null where the lookup answers null for an unknown id), and none reaches SQL.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kind, type ObjectTypeDefinitionNode, type ObjectTypeExtensionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, mintToken, startTestStack, type GraphQLResult, type TestStack } from '@vibestream/testkit';
import { subgraphs } from '../subgraphs/index.ts';
import { newArtist, signUp } from '@vibestream/catalog/testing';
import { terminateSnarkjs } from '@vibestream/rewards/testing';

const NOT_AN_ID = "1' or '1'='1";
const statements = new Map<string, string[]>(subgraphs.map((m) => [m.name, []]));
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);

let stack: TestStack;
let mediaDir: string;
let fan: { token: string; userId: string };
let artist: { token: string; userId: string };
let admin: string;

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-hostile-'));
  const onQuery = Object.fromEntries(subgraphs.map((m) => [m.name, (sql: string) => void statements.get(m.name)!.push(sql)]));
  stack = await startTestStack('hostileids', subgraphs, { MEDIA_DIR: mediaDir }, { onQuery });
  fan = await signUp(stack, 'FAN', 'Hostile Fan');
  artist = await newArtist(stack, 'Hostile Artist');
  admin = await mintToken(stack.keys, { roles: ['ADMIN'] });
}, 180_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await stack?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

/** Runs `request`, answering what it answered and the SQL each subgraph ran meanwhile that reads `table`. */
async function sqlDuring<T>(table: string, request: () => Promise<T>): Promise<{ result: T; reads: string[] }> {
  for (const list of statements.values()) list.length = 0;
  const result = await request();
  const reads = [...statements.values()].flat().filter((sql) => new RegExp(`\\b${table}\\b`, 'i').test(sql));
  return { result, reads };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('entity representations sent straight to a subgraph (finding 1)', () => {
  it('refuses the batch that ended the process on catalog, and every context keeps answering', async () => {
    const result = await stack.subgraph('catalog')('{ _entities(representations: [{__typename: "Song"}, {__typename: "X"}]) { __typename } }');
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.extensions!.field).toBe('representations');
    await settle();
    expect(unhandled).toEqual([]);
    for (const name of stack.subgraphs.keys()) expect((await stack.subgraph(name)('{ __typename }')).data, name).toEqual({ __typename: 'Query' });
    expect((await stack.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it("refuses ownership's batch of an order with a bad id and an unknown type, without reading orders", async () => {
    const { result, reads } = await sqlDuring('orders', () =>
      stack.subgraph('ownership')('{ _entities(representations: [{__typename: "Order", id: "x"}, {__typename: "Nope"}]) { __typename } }'),
    );
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(reads).toEqual([]);
    await settle();
    expect(unhandled).toEqual([]);
  });

  // Every entity each subgraph resolves, with ids that are not ids: null, no error, no SQL reading its table.
  const entities = subgraphs.flatMap((module) =>
    module.typeDefs.definitions
      .filter((d): d is ObjectTypeDefinitionNode | ObjectTypeExtensionNode => d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.OBJECT_TYPE_EXTENSION)
      .filter((d) =>
        d.directives?.some(
          (k) => k.name.value === 'key' && !k.arguments?.some((a) => a.name.value === 'resolvable' && a.value.kind === Kind.BOOLEAN && !a.value.value),
        ),
      )
      .map((d) => ({ subgraph: module.name, type: d.name.value })),
  );

  it.each(entities)('$subgraph resolves a $type whose id is not an id to null', async ({ subgraph, type }) => {
    // (A key that is not a scalar at all is refused as a whole: platform/test/entities.test.ts.)
    const representations = ['x', NOT_AN_ID, '', 42].map((id) => ({ __typename: type, id }));
    const result = await stack.subgraph(subgraph)('query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: representations });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ _entities: representations.map(() => null) });
  });

  it.each([
    ['ownership', 'Order', 'orders'],
    ['ownership', 'ShareOffering', 'offerings'],
    ['rewards', 'ListenSession', 'sessions'],
  ])('%s answers a %s with a bad id without reading %s', async (subgraph, type, table) => {
    const { result, reads } = await sqlDuring(table, () =>
      stack.subgraph(subgraph)('query ($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: [{ __typename: type, id: 'x' }] }),
    );
    expect(result.data).toEqual({ _entities: [null] });
    expect(reads).toEqual([]);
  });
});

describe('id arguments through the gateway (finding 6)', () => {
  /** [field, document, the table a malformed id must not reach]. */
  const lookups: [string, string, string][] = [
    ['shareOffering', 'query ($id: ID!) { shareOffering(id: $id) { id } }', 'offerings'],
    ['trade', 'query ($id: ID!) { trade(id: $id) { id } }', 'trades'],
    ['campaign', 'query ($id: ID!) { campaign(id: $id) { id } }', 'campaigns'],
    ['rewardClaim', 'query ($id: ID!) { rewardClaim(id: $id) { id } }', 'claims'],
    ['notification', 'query ($id: ID!) { notification(id: $id) { id } }', 'notifications'],
  ];

  it.each(lookups)('%s of an id that is not one is null, as for an unknown id, without SQL', async (field, query, table) => {
    for (const id of ['x', NOT_AN_ID]) {
      const { result, reads } = await sqlDuring(table, () => stack.gql<Record<string, unknown>>(query, { id }, { token: fan.token }));
      expect(result.errors, field).toBeUndefined();
      expect(result.data).toEqual({ [field]: null });
      expect(reads).toEqual([]);
    }
  });

  const later = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
  type Caller = 'fan' | 'artist' | 'admin' | 'anyone';
  /** [field, document, variables, caller, the argument the error names]. */
  const byArgument: [string, string, Record<string, unknown>, Caller, string][] = [
    ['song', 'query ($id: ID!) { song(id: $id) { id } }', { id: NOT_AN_ID }, 'anyone', 'id'],
    ['artist', 'query ($id: ID!) { artist(id: $id) { id } }', { id: NOT_AN_ID }, 'anyone', 'id'],
    ['album', 'query ($id: ID!) { album(id: $id) { id } }', { id: NOT_AN_ID }, 'anyone', 'id'],
    ['playlist', 'query ($id: ID!) { playlist(id: $id) { id } }', { id: NOT_AN_ID }, 'fan', 'id'],
    ['orderBook', 'query ($songId: ID!) { orderBook(songId: $songId) { songId } }', { songId: NOT_AN_ID }, 'anyone', 'songId'],
    [
      'createSong',
      'mutation ($input: CreateSongInput!) { createSong(input: $input) { id } }',
      { input: { title: 'T', genre: 'Pop', albumId: 'x' } },
      'artist',
      'input.albumId',
    ],
    [
      'requestSongUpload',
      'mutation ($songId: ID!) { requestSongUpload(songId: $songId, contentType: "audio/wav", byteSize: 10) { uploadUrl } }',
      { songId: 'x' },
      'artist',
      'songId',
    ],
    ['publishSong', 'mutation ($songId: ID!) { publishSong(songId: $songId) { id } }', { songId: 'x' }, 'artist', 'songId'],
    ['addSongToPlaylist', 'mutation ($p: ID!, $s: ID!) { addSongToPlaylist(playlistId: $p, songId: $s) { id } }', { p: 'x', s: 'x' }, 'fan', 'playlistId'],
    [
      'removeSongFromPlaylist',
      'mutation ($p: ID!, $s: ID!) { removeSongFromPlaylist(playlistId: $p, songId: $s) { id } }',
      { p: 'x', s: 'x' },
      'fan',
      'playlistId',
    ],
    ['setUserRoles', 'mutation ($id: ID!) { setUserRoles(userId: $id, roles: [FAN]) { id } }', { id: 'x' }, 'admin', 'userId'],
    ['revokeApiKey', 'mutation ($id: ID!) { revokeApiKey(id: $id) { id } }', { id: 'x' }, 'admin', 'id'],
    ['removePasskey', 'mutation ($id: ID!) { removePasskey(id: $id) }', { id: NOT_AN_ID }, 'fan', 'id'],
    [
      'finishPasskeySignIn',
      'mutation ($id: ID!) { finishPasskeySignIn(challengeId: $id, response: "{}") { accessToken } }',
      { id: 'x' },
      'anyone',
      'challengeId',
    ],
    ['startListenSession', 'mutation ($id: ID!) { startListenSession(songId: $id) { id } }', { id: 'x' }, 'fan', 'songId'],
    ['listenHeartbeat', 'mutation ($id: ID!) { listenHeartbeat(sessionId: $id, positionSeconds: 2) { id } }', { id: NOT_AN_ID }, 'fan', 'sessionId'],
    [
      'completeListenSession',
      'mutation ($id: ID!) { completeListenSession(sessionId: $id, commitment: "1") { voucher { epoch } } }',
      { id: 'x' },
      'fan',
      'sessionId',
    ],
    [
      'createShareOffering',
      'mutation ($input: CreateShareOfferingInput!) { createShareOffering(input: $input) { id } }',
      { input: { songId: 'x', totalShares: 10, pricePerShareCents: 100, revenueShareBps: 100 } },
      'artist',
      'input.songId',
    ],
    ['buyOfferingShares', 'mutation ($id: ID!) { buyOfferingShares(offeringId: $id, quantity: 1) { quantity } }', { id: NOT_AN_ID }, 'fan', 'offeringId'],
    [
      'placeOrder',
      'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }',
      { input: { songId: 'x', side: 'BUY', type: 'MARKET', quantity: 1 } },
      'fan',
      'input.songId',
    ],
    ['cancelOrder', 'mutation ($id: ID!) { cancelOrder(orderId: $id) { id } }', { id: 'x' }, 'fan', 'orderId'],
    [
      'distributeRevenue',
      'mutation ($id: ID!) { distributeRevenue(songId: $id, amountCents: 100, periodLabel: "Q1") { id } }',
      { id: 'x' },
      'artist',
      'songId',
    ],
    ['confirmCryptoDeposit', 'mutation ($id: ID!) { confirmCryptoDeposit(depositId: $id, txHash: "0xabc") { id } }', { id: 'x' }, 'fan', 'depositId'],
    ['markNotificationsRead', 'mutation ($ids: [ID!]!) { markNotificationsRead(ids: $ids) }', { ids: ['x'] }, 'fan', 'ids'],
    ['removePushSubscription', 'mutation ($id: ID!) { removePushSubscription(id: $id) }', { id: NOT_AN_ID }, 'fan', 'id'],
    [
      'createCampaign',
      'mutation ($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }',
      { input: { songId: 'x', name: 'C', startsAt: later(1), endsAt: later(2), budgetCents: 100 } },
      'artist',
      'input.songId',
    ],
    ['activateCampaign', 'mutation ($id: ID!) { activateCampaign(id: $id) { id } }', { id: 'x' }, 'artist', 'id'],
    ['joinCampaign', 'mutation ($id: ID!) { joinCampaign(id: $id) { id } }', { id: 'x' }, 'fan', 'id'],
    [
      'claimCampaignNft',
      'mutation ($id: ID!) { claimCampaignNft(campaignId: $id, walletAddress: "0x0000000000000000000000000000000000000001") { tokenId } }',
      { id: 'x' },
      'fan',
      'campaignId',
    ],
  ];

  it.each(byArgument)('%s with an id that is not one is BAD_USER_INPUT naming the argument', async (_what, query, variables, caller, field) => {
    const token = caller === 'fan' ? fan.token : caller === 'artist' ? artist.token : caller === 'admin' ? admin : undefined;
    const result: GraphQLResult = await stack.gql(query, variables, token ? { token } : {});
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(result.status).toBeLessThan(500);
  });
});

describe('text PostgreSQL cannot store', () => {
  it('a NUL character in an argument or a variable is BAD_USER_INPUT naming it, through the gateway and straight to a subgraph (was INTERNAL_SERVER_ERROR from SQL)', async () => {
    const literal = await stack.gql('mutation { createPlaylist(name: "a\\u0000b") { id } }', {}, { token: fan.token });
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    const variable = await stack.gql('mutation ($n: String!) { createPlaylist(name: $n) { id } }', { n: 'a\u0000b' }, { token: fan.token });
    expect(variable.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'n' });
    const nested = await stack.subgraph('catalog')(
      'mutation ($input: CreateSongInput!) { createSong(input: $input) { id } }',
      { input: { title: 'x', genre: '\u0000' } },
      { token: artist.token },
    );
    expect(nested.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    // Text without it is untouched.
    const fine = await stack.gql<{ createPlaylist: { id: string } }>(
      'mutation ($n: String!) { createPlaylist(name: $n) { id } }',
      { n: 'a\\u0000b, written out' },
      { token: fan.token },
    );
    expect(fine.errors).toBeUndefined();
  });
});
