import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemorySessionRevocations,
  RedisSessionRevocations,
  createLogger,
  createRedis,
  createTokenVerifier,
  generateSigningKeys,
  waitForRevocations,
  type Redis,
  type SessionRevocations,
} from '@vibestream/platform';
import { TEST_REDIS_URL, eventually, mintToken } from '@vibestream/testkit';

const log = createLogger('revocations-test', 'silent');
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;
const opened: { close(): Promise<void> | void }[] = [];

function redis(url = TEST_REDIS_URL): Redis {
  const client = createRedis(url);
  client.on('error', () => undefined);
  opened.push({ close: () => client.disconnect() });
  return client;
}

function revocationsOn(client: Redis, prefix: string): RedisSessionRevocations {
  const revocations = new RedisSessionRevocations(client, prefix, log);
  opened.unshift(revocations);
  return revocations;
}

afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

function watch(revocations: SessionRevocations): string[] {
  const seen: string[] = [];
  revocations.onRevoked((sessionId) => seen.push(sessionId));
  return seen;
}

describe('session revocations', () => {
  it('in-process: a revoked session is refused until its tokens have expired; listeners hear of it once', async () => {
    const revocations = new MemorySessionRevocations();
    opened.push(revocations);
    const seen = watch(revocations);
    await revocations.revoke('s1', inSeconds(60));
    await revocations.revoke('s1', inSeconds(30));
    await revocations.revoke('gone', inSeconds(-1));
    expect(revocations.isRevoked('s1')).toBe(true);
    expect(revocations.isRevoked('s2')).toBe(false);
    expect(revocations.isRevoked('gone')).toBe(false);
    expect(seen).toEqual(['s1']);
  });

  it('Redis: a revocation made by one process reaches another at once, and a process started later loads it', async () => {
    const prefix = `test:revocations:${randomBytes(4).toString('hex')}:`;
    const revoker = revocationsOn(redis(), prefix);
    const verifier = revocationsOn(redis(), prefix);
    await Promise.all([revoker.loaded(), verifier.loaded()]);
    const seen = watch(verifier);
    await revoker.revoke('s1', inSeconds(60));
    await revoker.revoke('expired', inSeconds(-1));
    await eventually(async () => verifier.isRevoked('s1'), Boolean, 2_000);
    expect(verifier.isRevoked('s1')).toBe(true);
    expect(verifier.isRevoked('expired')).toBe(false);
    expect(seen).toEqual(['s1']);

    const late = revocationsOn(redis(), prefix);
    expect(await waitForRevocations(late, log, 2_000)).toBe(true);
    expect(late.isRevoked('s1')).toBe(true);
    // Expired revocations are dropped from Redis as new ones are written.
    expect(await redis().zrange(`${prefix}revoked-sessions`, '0', '-1')).toEqual(['s1']);
  });

  it('Redis unreachable: the wait at start gives up, tokens are accepted (fail-open), and a revocation fails', async () => {
    const unreachable = revocationsOn(redis('redis://127.0.0.1:1'), 'test:nowhere:');
    const started = Date.now();
    expect(await waitForRevocations(unreachable, log, 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(unreachable.isRevoked('s1')).toBe(false);
    // The other subgraphs of the process, sharing it, start without waiting again.
    const again = Date.now();
    expect(await waitForRevocations(unreachable, log, 300)).toBe(false);
    expect(Date.now() - again).toBeLessThan(50);
    // A revocation Redis did not record fails, and is not taken as done, so it can be retried.
    await expect(unreachable.revoke('s1', inSeconds(60))).rejects.toThrow();
    expect(unreachable.isRevoked('s1')).toBe(false);
  });

  it('the token verifier refuses a token of a revoked session, even one it verified and cached before', async () => {
    const keys = generateSigningKeys();
    const revocations = new MemorySessionRevocations();
    opened.push(revocations);
    const verify = await createTokenVerifier({ publicKeyPem: keys.publicKeyPem, issuer: 'vibestream-identity', audience: 'vibestream', revocations });
    const token = await mintToken(keys, { sessionId: 'session-a' });
    const other = await mintToken(keys, { sessionId: 'session-b' });
    expect((await verify(token)).sessionId).toBe('session-a');
    await revocations.revoke('session-a', inSeconds(300));
    await expect(verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect((await verify(other)).sessionId).toBe('session-b');
  });
});
