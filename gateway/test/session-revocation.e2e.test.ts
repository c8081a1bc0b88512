import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeSupergraph, type RunningSubgraph } from '@vibestream/platform';
import { errorCode, graphqlClient, startTestStack, type GraphQLRequest, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { notificationsSubgraph } from '@vibestream/notifications';
import { startGateway, type RunningGateway } from '../src/index.ts';

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken } }`;
const REFRESH = `mutation RefreshSession($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { accessToken refreshToken } }`;
const LOGOUT = `mutation Logout { logout }`;
const ME = `query Me { me { id } }`;
const MARK_ALL_READ = `mutation MarkAllRead { markAllNotificationsRead }`;
const NOTIFICATIONS = `subscription OnNotificationAdded { notificationAdded { id } }`;
const PASSWORD = 'a-long-password';

interface Session {
  accessToken: string;
  refreshToken: string;
}

/** A raw graphql-ws client: connects with the token, starts one subscription, and reports how the socket closed. */
async function openSubscription(httpUrl: string, token: string) {
  const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  const acked = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('message', (data) => resolve((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack'))),
    closed.then(() => false),
  ]);
  if (acked) socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: NOTIFICATIONS } }));
  return { acked, closed, socket };
}

const within = <T>(promise: Promise<T>, ms = 5_000) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms))]);

// Finding 6: access tokens kept working for up to 15 minutes after logout.
describe.each([
  { backend: 'Redis', redisUrl: undefined },
  { backend: 'in-process', redisUrl: '' },
])('logout revokes outstanding access tokens ($backend)', ({ backend, redisUrl }) => {
  const onRedis = backend === 'Redis';
  let stack: TestStack;
  // With Redis, another gateway and another notifications replica, each on its own connection: they learn of a revocation by broadcast.
  let otherGateway: RunningGateway | null = null;
  let otherNotifications: RunningSubgraph | null = null;
  let gateways: GraphQLRequest[];
  let notifications: GraphQLRequest[];
  let email = 0;

  beforeAll(async () => {
    const modules = [identitySubgraph, notificationsSubgraph];
    stack = await startTestStack(`revocation-${onRedis ? 'redis' : 'memory'}`, modules, redisUrl === undefined ? {} : { REDIS_URL: redisUrl });
    gateways = [stack.gql];
    notifications = [stack.subgraph('notifications')];
    if (onRedis) {
      otherNotifications = await notificationsSubgraph.start({ env: stack.env, port: 0, log: stack.log });
      const { supergraph } = composeSupergraph(modules, (m) => stack.subgraphs.get(m.name)!.url);
      otherGateway = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: supergraph, port: 0, log: stack.log });
      gateways.push(graphqlClient(`http://127.0.0.1:${otherGateway.port}/graphql`));
      notifications.push(graphqlClient(otherNotifications.url));
    }
  });
  afterAll(async () => {
    await otherGateway?.stop();
    await otherNotifications?.stop();
    await stack?.stop();
  });

  /** Two sign-ins of one user: two sessions. */
  async function twoSessions(): Promise<[Session, Session]> {
    const address = `fan${email++}@example.com`;
    const registered = await stack.gql<{ register: Session }>(REGISTER, { input: { email: address, password: PASSWORD, displayName: 'Fan' } });
    const again = await stack.gql<{ login: Session }>(LOGIN, { email: address, password: PASSWORD });
    return [registered.data!.register, again.data!.login];
  }

  /** Every way a request presents the token: each gateway, and each subgraph directly. */
  async function answers(token: string) {
    const results = [];
    for (const gql of gateways) results.push(await gql(ME, {}, { token }));
    results.push(await stack.subgraph('identity')(ME, {}, { token }));
    for (const gql of notifications) results.push(await gql(MARK_ALL_READ, {}, { token }));
    return results.map((r) => (r.errors ? errorCode(r) : 'OK'));
  }

  it('after logout the access token is UNAUTHENTICATED at every gateway and subgraph; the user’s other session keeps working', async () => {
    const [revoked, other] = await twoSessions();
    const everywhere = (code: string) => Array.from({ length: gateways.length + 1 + notifications.length }, () => code);
    expect(await answers(revoked.accessToken)).toEqual(everywhere('OK'));

    const out = await stack.gql<{ logout: boolean }>(LOGOUT, {}, { token: revoked.accessToken });
    expect(out.data!.logout).toBe(true);
    expect(await answers(revoked.accessToken)).toEqual(everywhere('UNAUTHENTICATED'));
    expect((await stack.gql(ME, {}, { token: revoked.accessToken })).status).toBe(401);
    expect(await answers(other.accessToken)).toEqual(everywhere('OK'));
  });

  it('closes open subscription connections of the revoked session with 4403, and refuses new ones; other sessions stay open', async () => {
    const [revoked, other] = await twoSessions();
    const urls = [stack.gatewayUrl, ...(otherGateway ? [`http://127.0.0.1:${otherGateway.port}/graphql`] : [])];
    const doomed = await Promise.all(urls.map((url) => openSubscription(url, revoked.accessToken)));
    const kept = await openSubscription(stack.gatewayUrl, other.accessToken);
    expect([...doomed, kept].every((s) => s.acked)).toBe(true);

    await stack.gql(LOGOUT, {}, { token: revoked.accessToken });
    for (const { closed } of doomed) expect(await within(closed)).toMatchObject({ code: 4403 });
    const retry = await openSubscription(stack.gatewayUrl, revoked.accessToken);
    expect(retry.acked).toBe(false);
    expect((await retry.closed).code).toBe(4403);
    expect(kept.socket.readyState).toBe(WebSocket.OPEN);
    kept.socket.close();
  });

  it('a reused refresh token revokes its family’s access tokens too', async () => {
    const [session] = await twoSessions();
    const rotated = await stack.gql<{ refreshSession: Session }>(REFRESH, { refreshToken: session.refreshToken });
    const current = rotated.data!.refreshSession.accessToken;
    expect(errorCode(await stack.gql(REFRESH, { refreshToken: session.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(ME, {}, { token: current }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await stack.gql(ME, {}, { token: session.accessToken }))).toBe('UNAUTHENTICATED');
  });

  it.runIf(onRedis)('a gateway started after the logout loads the revocation at start', async () => {
    const [revoked, other] = await twoSessions();
    await stack.gql(LOGOUT, {}, { token: revoked.accessToken });
    const { supergraph } = composeSupergraph([identitySubgraph, notificationsSubgraph], (m) => stack.subgraphs.get(m.name)!.url);
    const late = await startGateway({ env: { ...stack.env, HOST: '127.0.0.1' }, supergraphSdl: supergraph, port: 0, log: stack.log });
    try {
      const gql = graphqlClient(`http://127.0.0.1:${late.port}/graphql`);
      expect(errorCode(await gql(ME, {}, { token: revoked.accessToken }))).toBe('UNAUTHENTICATED');
      expect((await gql(ME, {}, { token: other.accessToken })).errors).toBeUndefined();
    } finally {
      await late.stop();
    }
  });
});
