// notifications fed by the real producers (catalog, rewards) rather than hand-made events: the
// contracts it imports are the ones those subgraphs record in their outboxes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from '@vibestream/platform/testing';
import { identitySubgraph } from '@vibestream/identity';
import { catalogSubgraph } from '@vibestream/catalog';
import { rewardsSubgraph } from '@vibestream/rewards';
import { listenAndComplete, newArtist, publishSong, signUp, terminateSnarkjs } from '../../rewards/test/helpers.ts';
import { notificationsSubgraph } from '../src/index.ts';
import { MY_NOTIFICATIONS, ON_NOTIFICATION, subscribe, type MyNotifications } from './helpers.ts';

let stack: TestStack;
let mediaDir: string;
const clients: Client[] = [];

beforeAll(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), 'vs-notif-prod-'));
  stack = await startTestStack('notifications-producers', [identitySubgraph, catalogSubgraph, rewardsSubgraph, notificationsSubgraph], {
    MEDIA_DIR: mediaDir,
    MIN_LISTEN_SECONDS: '1',
  });
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await stack?.stop();
  await rm(mediaDir, { recursive: true, force: true });
  await terminateSnarkjs();
});

describe('notifications from the real producers', () => {
  it('a voucher rewards issues for a listen notifies the listener once, live and in the list, naming the song catalog published', async () => {
    const artist = await newArtist(stack, 'Producer Artist');
    const songId = await publishSong(stack, artist.token, 1, 'Real Song');
    const fan = await signUp(stack, 'FAN', 'Listener');
    const live = subscribe<{ notificationAdded: { id: string; kind: string; title: string; body: string } }>(stack.gatewayUrl, ON_NOTIFICATION, fan.token);
    clients.push(live.client);
    await live.subscription.ready;

    const { result } = await listenAndComplete(stack, fan.token, songId, 1);
    expect(result.voucher).not.toBeNull();

    const me = await eventually(
      async () => (await stack.gql<MyNotifications>(MY_NOTIFICATIONS, {}, { token: fan.token })).data!.me,
      (m) => m.notifications.totalCount > 0,
      15_000,
    );
    expect(me.unreadNotificationCount).toBe(1);
    expect(me.notifications.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({ kind: 'REWARD_VOUCHER', title: 'Listening reward earned', body: 'You earned 0.01 reward tokens for listening to Real Song.', song: { id: songId } }),
    ]);
    await eventually(async () => live.subscription.events.length, (n) => n > 0);
    expect(live.subscription.errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(live.subscription.events).toHaveLength(1);
    expect(live.subscription.events[0]!.notificationAdded).toMatchObject({
      id: me.notifications.edges[0]!.node.id,
      kind: 'REWARD_VOUCHER',
      title: 'Listening reward earned',
      body: 'You earned 0.01 reward tokens for listening to Real Song.',
    });
    // The artist earned nothing and was told nothing.
    expect((await stack.gql<MyNotifications>(MY_NOTIFICATIONS, {}, { token: artist.token })).data!.me.notifications.totalCount).toBe(0);
  });
});
