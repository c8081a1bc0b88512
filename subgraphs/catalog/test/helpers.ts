import type pg from 'pg';
import { eventually, publishEvent, type TestStack } from '@vibestream/testkit';
import { EntitlementsChanged } from '@vibestream/payments/events';

/** What the helpers below need: a client on the gateway (a test stack, or `npm start`). */
export type Gateway = Pick<TestStack, 'gql' | 'publicUrl'>;

let counter = 0;

export async function signUp(stack: Gateway, role: 'FAN' | 'ARTIST' = 'FAN', name = 'Tester') {
  const email = `${role.toLowerCase()}${++counter}-${Date.now()}@example.com`;
  const res = await stack.gql<{ register: { accessToken: string; user: { id: string } } }>(
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`,
    { input: { email, password: 'a-long-password', displayName: name, role } },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return { token: res.data.register.accessToken, userId: res.data.register.user.id };
}

export async function newArtist(stack: Gateway, name: string) {
  const user = await signUp(stack, 'ARTIST', name);
  const res = await stack.gql<{ createArtistProfile: { id: string } }>(
    `mutation($input: ArtistProfileInput!) { createArtistProfile(input: $input) { id } }`,
    { input: { name } },
    { token: user.token },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return { ...user, artistId: res.data.createArtistProfile.id };
}

export async function createSong(stack: Gateway, token: string, input: Record<string, unknown>) {
  const res = await stack.gql<{ createSong: { id: string; status: string } }>(
    `mutation($input: CreateSongInput!) { createSong(input: $input) { id title genre status } }`,
    { input },
    { token },
  );
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return res.data.createSong.id;
}

export async function requestUpload(stack: Gateway, token: string, songId: string, contentType: string, byteSize: number) {
  return stack.gql<{ requestSongUpload: { uploadUrl: string; expiresAt: string } }>(
    `mutation($songId: ID!, $contentType: String!, $byteSize: Int!) { requestSongUpload(songId: $songId, contentType: $contentType, byteSize: $byteSize) { uploadUrl expiresAt } }`,
    { songId, contentType, byteSize },
    { token },
  );
}

/** PUTs to an upload URL, which catalog hands out relative to the gateway (`/media/upload/...`): resolved against `base`. */
export async function put(url: string | URL, body: Buffer, contentType = 'audio/wav', base?: string) {
  return fetch(new URL(url, base), { method: 'PUT', headers: { 'content-type': contentType }, body: new Uint8Array(body) });
}

export async function uploadAndPublish(stack: Gateway, token: string, songId: string, audio: Buffer) {
  const ticket = await requestUpload(stack, token, songId, 'audio/wav', audio.length);
  if (!ticket.data) throw new Error(JSON.stringify(ticket.errors));
  const uploaded = await put(ticket.data.requestSongUpload.uploadUrl, audio, 'audio/wav', stack.publicUrl);
  if (uploaded.status !== 201) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
  const published = await stack.gql<{ publishSong: { status: string; durationSeconds: number } }>(
    `mutation($songId: ID!) { publishSong(songId: $songId) { id status durationSeconds } }`,
    { songId },
    { token },
  );
  if (!published.data) throw new Error(JSON.stringify(published.errors));
  return published.data.publishSong;
}

/** Creates, uploads and publishes a short song in one go. */
export async function publishedSong(stack: Gateway, token: string, input: Record<string, unknown>, audio: Buffer) {
  const id = await createSong(stack, token, input);
  await uploadAndPublish(stack, token, id, audio);
  return id;
}

/** Announces a plan for `userId` the way billing does and waits until catalog has it. */
export async function grantPlan(stack: TestStack, db: pg.Client, userId: string, planId: string, uploadsMonthly: number | null) {
  await publishEvent(stack, EntitlementsChanged, {
    userId,
    planId,
    entitlements: [
      { key: 'uploads.monthly', limit: uploadsMonthly },
      { key: 'storage.bytes', limit: null },
    ],
    changedAt: new Date().toISOString(),
  });
  const granted = await eventually(
    async () => (await db.query('select 1 from catalog.user_plans where user_id = $1 and plan_id = $2', [userId, planId])).rowCount,
    (n) => n === 1,
  );
  if (granted !== 1) throw new Error(`plan ${planId} never arrived for ${userId}`);
}
