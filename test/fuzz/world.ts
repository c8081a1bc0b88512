// The stack the fuzzer attacks: every subgraph and the gateway, as the e2e tests start them, with a
// little data (a fan, an artist with a published song on the market, an album, a playlist, an
// offering, an order, a listen session, a campaign) so that valid ids exist to mutate.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeys, type SubgraphModule } from '@vibestream/platform';
import { eventually, mintToken, publishEvent, startTestStack, type TestStack } from '@vibestream/testkit';
import { DepositSucceeded } from '@vibestream/payments/events';
import { subgraphs } from '../../subgraphs/index.ts';
import { makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';
import type { Known } from './values.ts';

/** Tracks on the fixture album. */
const ALBUM_TRACKS = 40;

/** Webhooks are configured (so /webhooks/stripe checks signatures); card payments are not (no Stripe to call). */
const STRIPE_WEBHOOK_SECRET = 'whsec_fuzz_secret';

const ADMIN = { email: 'admin@fuzz.test', password: 'a-long-admin-password' };

/** Who a request claims to be: the Authorization header it carries (none for anonymous). */
export type Principals = Record<string, string | null>;

export interface World {
  stack: TestStack;
  modules: SubgraphModule[];
  gatewayPort: number;
  /** Each subgraph's own port (what hostile traffic on the internal network reaches). */
  subgraphPorts: Map<string, number>;
  known: Known;
  /** A partner's key to /public/graphql. */
  apiKey: string | null;
  /** Principals a request may use; `throwaway` is the one whose session may be logged out. */
  principals: Principals;
  /** Fixtures that could not be made (the run goes on without their ids). */
  missing: string[];
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const mediaDir = await mkdtemp(join(tmpdir(), 'vs-fuzz-'));
  const stack = await startTestStack('fuzz', subgraphs, {
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    INTERNAL_API_TOKEN: 'internal-token-for-fuzz-0123456789abcdef',
    MEDIA_DIR: mediaDir,
    STRIPE_WEBHOOK_SECRET,
    MIN_LISTEN_SECONDS: '1',
    HEARTBEAT_INTERVAL_SECONDS: '1',
  });
  const stop = async () => {
    await stack.stop();
    await rm(mediaDir, { recursive: true, force: true });
  };
  try {
    return await populate(stack, stop);
  } catch (error) {
    await stop();
    throw error;
  }
}

async function populate(stack: TestStack, stop: () => Promise<void>): Promise<World> {
  const ids: Record<string, string[]> = {};
  const add = (kind: string, id: string | undefined | null) => {
    if (id) (ids[kind] ??= []).push(id);
  };
  const missing: string[] = [];
  /** A fixture the run can do without: a failure is reported, not thrown. */
  const optional = async (name: string, make: () => Promise<void>) => {
    try {
      await make();
    } catch (error) {
      missing.push(`${name}: ${(error as Error).message.slice(0, 300)}`);
    }
  };
  const must = <T>(name: string, result: { data?: T | null; errors?: unknown }): T => {
    if (!result.data) throw new Error(`${name}: ${JSON.stringify(result.errors)}`);
    return result.data;
  };

  const adminLogin = must(
    'admin login',
    await stack.gql<{ login: { accessToken: string; user: { id: string } } }>(
      `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`,
      ADMIN,
    ),
  ).login;
  const fan = await signUp(stack, 'FAN', 'Fuzz Fan');
  const throwaway = await stack.gql<{ register: { accessToken: string; refreshToken: string; user: { id: string } } }>(
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id } } }`,
    { input: { email: `throwaway-${randomUUID()}@example.com`, password: 'a-long-password', displayName: 'Throwaway' } },
  );
  const spare = must('throwaway', throwaway).register;
  const artist = await newArtist(stack, 'Fuzz Artist');
  for (const user of [adminLogin.user.id, fan.userId, artist.userId, spare.user.id]) add('User', user);
  add('Artist', artist.artistId);

  const songId = await publishedSong(stack, artist.token, { title: 'Fuzz Tune', genre: 'Pop' }, makeWav(1, 4000));
  add('Song', songId);
  await optional('draft song', async () => {
    const draft = must(
      'createSong',
      await stack.gql<{ createSong: { id: string } }>(
        `mutation { createSong(input: { title: "Fuzz Draft", genre: "Rock" }) { id } }`,
        {},
        { token: artist.token },
      ),
    );
    add('Song', draft.createSong.id);
  });
  await optional('album', async () => {
    const album = must(
      'createAlbum',
      await stack.gql<{ createAlbum: { id: string } }>(`mutation { createAlbum(input: { title: "Fuzz Album" }) { id } }`, {}, { token: artist.token }),
    );
    add('Album', album.createAlbum.id);
    // Forty tracks (drafts, which their artist sees): enough for nested album/songs lists to blow up.
    for (let track = 1; track <= ALBUM_TRACKS; track++) {
      const song = must(
        'album song',
        await stack.gql<{ createSong: { id: string } }>(
          `mutation($albumId: ID!, $title: String!) { createSong(input: { title: $title, genre: "Jazz", albumId: $albumId }) { id } }`,
          { albumId: album.createAlbum.id, title: `Fuzz Track ${track}` },
          { token: artist.token },
        ),
      );
      if (track === 1) add('Song', song.createSong.id);
    }
  });
  let apiKey: string | null = null;
  await optional('api key', async () => {
    apiKey = must(
      'createApiKey',
      await stack.gql<{ createApiKey: { key: string } }>(`mutation { createApiKey(name: "fuzz partner") { key } }`, {}, { token: adminLogin.accessToken }),
    ).createApiKey.key;
  });
  await optional('playlist', async () => {
    const playlist = must(
      'createPlaylist',
      await stack.gql<{ createPlaylist: { id: string } }>(`mutation { createPlaylist(name: "Fuzz Mix") { id } }`, {}, { token: fan.token }),
    );
    add('Playlist', playlist.createPlaylist.id);
    await stack.gql(
      `mutation($p: ID!, $s: ID!) { addSongToPlaylist(playlistId: $p, songId: $s) { id } }`,
      { p: playlist.createPlaylist.id, s: songId },
      { token: fan.token },
    );
  });
  await optional('market', async () => {
    await eventually(
      async () => (await stack.db.query('select 1 from ownership.songs where song_id = $1', [songId])).rowCount,
      (n) => n === 1,
      15_000,
    );
    const offering = must(
      'createShareOffering',
      await stack.gql<{ createShareOffering: { id: string } }>(
        `mutation($songId: ID!) { createShareOffering(input: { songId: $songId, totalShares: 1000, pricePerShareCents: 100, revenueShareBps: 1000 }) { id } }`,
        { songId },
        { token: artist.token },
      ),
    );
    add('ShareOffering', offering.createShareOffering.id);
    const depositId = randomUUID();
    await publishEvent(stack, DepositSucceeded, { depositId, userId: fan.userId, amountCents: 100_000, method: 'CARD', succeededAt: new Date().toISOString() });
    await eventually(
      async () => (await stack.db.query('select 1 from ownership.deposits where deposit_id = $1', [depositId])).rowCount,
      (n) => n === 1,
      15_000,
    );
    must(
      'buyOfferingShares',
      await stack.gql(
        `mutation($o: ID!) { buyOfferingShares(offeringId: $o, quantity: 10) { quantity } }`,
        { o: offering.createShareOffering.id },
        { token: fan.token },
      ),
    );
    const order = must(
      'placeOrder',
      await stack.gql<{ placeOrder: { order: { id: string } } }>(
        `mutation($songId: ID!) { placeOrder(input: { songId: $songId, side: SELL, type: LIMIT, quantity: 2, limitPriceCents: 500 }) { order { id } } }`,
        { songId },
        { token: fan.token },
      ),
    );
    add('Order', order.placeOrder.order.id);
  });
  await optional('listen session', async () => {
    const session = must(
      'startListenSession',
      await stack.gql<{ startListenSession: { id: string } }>(
        `mutation($s: ID!) { startListenSession(songId: $s) { id } }`,
        { s: songId },
        { token: fan.token },
      ),
    );
    add('ListenSession', session.startListenSession.id);
  });
  await optional('campaign', async () => {
    await eventually(
      async () => (await stack.db.query('select 1 from campaigns.songs where song_id = $1', [songId])).rowCount,
      (n) => n === 1,
      15_000,
    );
    const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
    const campaign = must(
      'createCampaign',
      await stack.gql<{ createCampaign: { id: string } }>(
        `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`,
        { input: { songId, name: 'Fuzz Campaign', startsAt: at(-1), endsAt: at(60 * 24), budgetCents: 10_000 } },
        { token: artist.token },
      ),
    );
    add('Campaign', campaign.createCampaign.id);
    await stack.gql(`mutation($id: ID!) { activateCampaign(id: $id) { id } }`, { id: campaign.createCampaign.id }, { token: artist.token });
  });
  await optional('plans', async () => {
    const plans = must('plans', await stack.gql<{ plans: { id: string }[] }>(`{ plans { id } }`));
    for (const plan of plans.plans) add('Plan', plan.id);
  });
  await optional('notification', async () => {
    const found = await eventually(
      async () =>
        (
          await stack.gql<{ me: { notifications: { edges: { node: { id: string } }[] } } }>(
            `{ me { notifications(first: 5) { edges { node { id } } } } }`,
            {},
            { token: fan.token },
          )
        ).data?.me?.notifications.edges ?? [],
      (edges) => edges.length > 0,
      5_000,
    );
    if (found.length === 0) throw new Error('no notification arrived');
    for (const edge of found) add('Notification', edge.node.id);
  });

  const stranger = generateSigningKeys();
  const principals: Principals = {
    anonymous: null,
    fan: `Bearer ${fan.token}`,
    artist: `Bearer ${artist.token}`,
    admin: `Bearer ${adminLogin.accessToken}`,
    throwaway: `Bearer ${spare.accessToken}`,
    unknownUser: `Bearer ${await mintToken(stack.keys, { userId: randomUUID(), roles: ['FAN', 'ARTIST'] })}`,
    expired: `Bearer ${await mintToken(stack.keys, { userId: fan.userId, expiresIn: -60 })}`,
    forged: `Bearer ${await mintToken(stranger, { userId: fan.userId, roles: ['ADMIN'] })}`,
    wrongAudience: `Bearer ${await mintToken(stack.keys, { userId: fan.userId, audience: 'someone-else' })}`,
  };
  const portOf = (url: string) => Number(new URL(url).port);
  return {
    stack,
    modules: subgraphs,
    gatewayPort: portOf(stack.publicUrl),
    subgraphPorts: new Map([...stack.subgraphs].map(([name, s]) => [name, portOf(s.url)])),
    known: { ids, refreshTokens: [spare.refreshToken], emails: [ADMIN.email, `throwaway@example.com`] },
    apiKey,
    principals,
    missing,
    stop,
  };
}
