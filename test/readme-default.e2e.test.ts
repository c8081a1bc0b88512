// The README's default, as a new user runs it: `npm start` with no DATABASE_URL and no REDIS_URL
// (an embedded PostgreSQL, the in-process event bus, the local Stripe stand-in, demo content),
// driven through its gateway: the demo content is there; an artist publishes a song, a fan listens
// to it, earns a voucher and claims it with a real Groth16 proof; the artist opens an offering, a
// fan buys shares and trades them with another fan who funded their account by card.
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, eventually, graphqlClient } from '@vibestream/testkit';
import { makeWav, newArtist, publishedSong, signUp } from '@vibestream/catalog/testing';
import { COMPLETE, CLAIM, HEARTBEAT, newVoucherSecrets, prove, sleep, songKnownToRewards, terminateSnarkjs, type Complete } from '@vibestream/rewards/testing';
import { BOOK, BUY_OFFERING, OFFER, PLACE, PORTFOLIO, type Placed } from '@vibestream/ownership/testing';
import { DEMO_PASSWORD, demoArtists, demoFan, demoPlays } from '../scripts/demo/content.ts';
import { BANNER, startNpmStart, type NpmStart } from '@vibestream/testkit/npm-start';

let app: NpmStart;

beforeAll(async () => {
  app = await startNpmStart('readme-default', {
    // A listen earns a voucher after 2 s of credited listening, with a heartbeat every second.
    MIN_LISTEN_SECONDS: '2',
    HEARTBEAT_INTERVAL_SECONDS: '1',
    // The web client is not used here; building it would only cost time.
    WEB_APP_BUILD: 'off',
  });
}, 300_000);

afterAll(async () => {
  await app?.stop();
  await terminateSnarkjs();
});

const LOGIN = `mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken user { id } } }`;
const DEPOSIT = `mutation($amountCents: Int!) { createDeposit(amountCents: $amountCents, method: CARD) { id status } }`;
const SEARCH = `query($query: String!) { searchSongs(query: $query, first: 10) { edges { node { id title durationSeconds streamUrl artist { name } market { offering { id status sharesRemaining pricePerShareCents } } } } } }`;

type Portfolio = {
  me: { tradingAccount: { cashCents: number; reservedCents: number } | null; portfolio: { holdings: { quantity: number; song: { id: string } }[] } | null };
};
type Found = {
  searchSongs: {
    edges: {
      node: {
        id: string;
        title: string;
        durationSeconds: number;
        streamUrl: string;
        artist: { name: string };
        market: { offering: { id: string; status: string; sharesRemaining: number; pricePerShareCents: number } | null } | null;
      };
    }[];
  };
};

async function login(email: string) {
  const res = await app.gql<{ login: { accessToken: string; user: { id: string } } }>(LOGIN, { email, password: DEMO_PASSWORD });
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return { token: res.data.login.accessToken, userId: res.data.login.user.id };
}

const cashOf = async (token: string) => (await app.gql<Portfolio>(PORTFOLIO, {}, { token })).data?.me.tradingAccount?.cashCents ?? 0;
const holdingOf = async (token: string, songId: string) =>
  (await app.gql<Portfolio>(PORTFOLIO, {}, { token })).data?.me.portfolio?.holdings.find((h) => h.song.id === songId)?.quantity ?? 0;

/** Repeats a mutation while it answers NOT_FOUND (the other context has not learnt the object yet), up to `ms`. */
async function onceKnown<T>(attempt: () => Promise<{ data?: T | null; errors?: unknown[] }>, ms = 10_000) {
  return eventually(attempt, (res) => errorCode(res as Parameters<typeof errorCode>[0]) !== 'NOT_FOUND', ms);
}

describe('npm start as the README says (embedded PostgreSQL, in-process bus)', { timeout: 240_000 }, () => {
  it('prints the demo accounts and seeds the demo content through the API: artists, processed songs, open offerings, a funded fan', async () => {
    expect(app.output()).toContain(BANNER);
    expect(app.output()).toContain(`${demoFan.email}`);
    expect(app.output()).toContain(DEMO_PASSWORD);

    // Seeding runs in the background after the banner, and logs when it is done (or why not).
    const log = await eventually(
      async () => app.output(),
      (o) => o.includes('demo content ready') || o.includes('demo content could not be seeded'),
      180_000,
    );
    expect(log).toContain('demo content ready');
    const fan = await login(demoFan.email);
    expect(await cashOf(fan.token)).toBe(demoFan.depositCents);

    for (const artist of demoArtists) {
      for (const song of artist.songs) {
        const found = await app.gql<Found>(SEARCH, { query: song.title });
        const hit = found.data?.searchSongs.edges.map((e) => e.node).find((n) => n.title === song.title);
        expect(hit, `${song.title} is searchable`).toMatchObject({ artist: { name: artist.name }, durationSeconds: expect.any(Number) });
        expect(hit!.durationSeconds).toBeGreaterThan(5);
        if (song.offering)
          expect(hit!.market?.offering).toMatchObject({
            status: 'OPEN',
            sharesRemaining: song.offering.totalShares,
            pricePerShareCents: song.offering.pricePerShareCents,
          });
      }
    }
    // The demo listeners played the songs, so a fresh machine has something trending, most played first.
    // (catalog counts each completed listen from rewards' event, a moment after the seed's last one)
    const trendingTitles = async () =>
      ((await app.gql<{ trendingSongs: { title: string }[] }>('{ trendingSongs(first: 10) { title } }')).data?.trendingSongs ?? []).map((s) => s.title);
    // Every demo song trends once its first listen is counted; the order settles when the last is.
    const mostPlayed = (t: string[]) => JSON.stringify(t.slice(0, 2).sort()) === JSON.stringify(['Harbour Lights', 'Morning Light']);
    const titles = await eventually(trendingTitles, (t) => t.length === Object.keys(demoPlays).length && mostPlayed(t), 20_000);
    expect(new Set(titles)).toEqual(new Set(Object.keys(demoPlays)));
    expect(titles.slice(0, 2).sort()).toEqual(['Harbour Lights', 'Morning Light']);
    // The audio is stored and streams as what was uploaded.
    const first = (await app.gql<Found>(SEARCH, { query: demoArtists[0]!.songs[0]!.title })).data!.searchSongs.edges[0]!.node;
    const stream = await fetch(new URL(first.streamUrl, app.publicUrl), { headers: { range: 'bytes=0-11' } });
    expect(stream.status).toBe(206);
    expect(Buffer.from(await stream.arrayBuffer()).toString('latin1')).toMatch(/^RIFF....WAVE$/s);
  });

  let songId: string;
  let artistToken: string;

  it('an artist publishes a song; a fan listens with heartbeats, earns a voucher and claims it anonymously with a Groth16 proof', async () => {
    const artist = await newArtist(app, 'Fresh Artist');
    artistToken = artist.token;
    songId = await publishedSong(app, artist.token, { title: 'First Light', genre: 'Test' }, makeWav(3, 8000));

    const fan = await signUp(app, 'FAN', 'Listener');
    const sessionId = await songKnownToRewards(app, fan.token, songId);
    // Heartbeats at the interval; the listening rule credits no more than wall-clock time.
    for (let position = 1; position <= 3; position++) {
      await sleep(1_050);
      const beat = await app.gql(HEARTBEAT, { sessionId, positionSeconds: position }, { token: fan.token });
      expect(beat.errors).toBeUndefined();
    }
    const secrets = newVoucherSecrets();
    const done = await app.gql<Complete>(COMPLETE, { sessionId, commitment: secrets.commitment.toString() }, { token: fan.token });
    expect(done.errors).toBeUndefined();
    expect(done.data!.completeListenSession).toMatchObject({
      rejectionReason: null,
      session: { status: 'COMPLETED' },
      voucher: { leafIndex: expect.any(Number) },
    });

    const wallet = Wallet.createRandom().address;
    const anonymous = graphqlClient(app.gatewayUrl);
    const { proof, publicSignals } = await prove(app, secrets, done.data!.completeListenSession.voucher!, wallet, anonymous);
    const claim = await anonymous<{ claimListenReward: { status: string; recipient: string } }>(CLAIM, { proof, publicSignals });
    expect(claim.errors).toBeUndefined();
    expect(claim.data!.claimListenReward).toMatchObject({ status: 'CREDITED', recipient: wallet });
    expect(errorCode(await anonymous(CLAIM, { proof, publicSignals }))).toBe('CONFLICT');
  });

  it('the artist opens an offering; the demo fan buys shares and sells some to a fan who funded their account by card', async () => {
    const offered = await onceKnown(() =>
      app.gql<{ createShareOffering: { id: string; status: string; sharesRemaining: number } }>(
        OFFER,
        { input: { songId, totalShares: 100, pricePerShareCents: 100, revenueShareBps: 1000 } },
        { token: artistToken },
      ),
    );
    expect(offered.errors).toBeUndefined();
    const offering = offered.data!.createShareOffering;
    expect(offering).toMatchObject({ status: 'OPEN', sharesRemaining: 100 });

    // Alice is the demo fan, funded by the seed; Bob pays by card through the local Stripe stand-in.
    const alice = await login(demoFan.email);
    const bob = await signUp(app, 'FAN', 'Bob');
    const deposit = await app.gql<{ createDeposit: { status: string } }>(DEPOSIT, { amountCents: 5_000 }, { token: bob.token });
    expect(deposit.data?.createDeposit.status).toBe('PENDING');
    expect(
      await eventually(
        () => cashOf(bob.token),
        (c) => c === 5_000,
        30_000,
      ),
    ).toBe(5_000);

    const bought = await onceKnown(() =>
      app.gql<{ buyOfferingShares: { quantity: number; costCents: number } }>(BUY_OFFERING, { offeringId: offering.id, quantity: 10 }, { token: alice.token }),
    );
    expect(bought.data?.buyOfferingShares).toEqual({ quantity: 10, costCents: 1_000, holding: { quantity: 10 } });

    const ask = await app.gql<Placed>(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 4, limitPriceCents: 150 } }, { token: alice.token });
    expect(ask.data?.placeOrder.order.status).toBe('OPEN');
    const bid = await app.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 4, limitPriceCents: 150 } }, { token: bob.token });
    expect(bid.errors).toBeUndefined();
    expect(bid.data!.placeOrder.order.status).toBe('FILLED');
    expect(bid.data!.placeOrder.trades).toEqual([expect.objectContaining({ priceCents: 150, quantity: 4 })]);

    const book = await app.gql<{ orderBook: { lastTradePriceCents: number | null; asks: unknown[] } }>(BOOK, { songId });
    expect(book.data!.orderBook).toMatchObject({ lastTradePriceCents: 150, asks: [] });
    expect(await holdingOf(alice.token, songId)).toBe(6);
    expect(await holdingOf(bob.token, songId)).toBe(4);
    // Bob paid 4 x $1.50 and the taker's fee (0.5%, 3 cents).
    expect(await cashOf(bob.token)).toBe(5_000 - 600 - 3);

    // The gateway's entity cache is on by default and purged in process: a cached market answer,
    // then a trade, and the next read shows it.
    const MARKET = `query($id: ID!) { song(id: $id) { id title market { lastTradePriceCents volume24h } } }`;
    const hits = async () => {
      const text = await (await fetch(`${app.publicUrl}/metrics`)).text();
      return [...text.matchAll(/^vibestream_gateway_entity_cache_total\{[^}]*result="hit_memory"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const market = async () =>
      (await app.gql<{ song: { market: { lastTradePriceCents: number; volume24h: number } } }>(MARKET, { id: songId }, { token: bob.token })).data?.song.market;
    // The trade's events are still being handled by other contexts, and each may purge the song's
    // entries once more: read again until a read is served from the cache (a few tries at most).
    let cachedRead = false;
    for (let tries = 0; tries < 10 && !cachedRead; tries++) {
      expect(await market()).toEqual({ lastTradePriceCents: 150, volume24h: 4 });
      const before = await hits();
      expect(await market()).toEqual({ lastTradePriceCents: 150, volume24h: 4 });
      cachedRead = (await hits()) > before;
      if (!cachedRead) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(cachedRead).toBe(true);
    await app.gql<Placed>(PLACE, { input: { songId, side: 'SELL', type: 'LIMIT', quantity: 1, limitPriceCents: 160 } }, { token: alice.token });
    const again = await app.gql<Placed>(PLACE, { input: { songId, side: 'BUY', type: 'LIMIT', quantity: 1, limitPriceCents: 160 } }, { token: bob.token });
    expect(again.data?.placeOrder.order.status).toBe('FILLED');
    expect(await market()).toEqual({ lastTradePriceCents: 160, volume24h: 5 });
  });
});
